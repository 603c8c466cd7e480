import { connect } from 'node:net';
import { mustParseAddress } from '../topology/index.js';
import type { RoleProbe } from './analyze.js';
import { encodeCommand, parseResp, parseRoleReply, type RespError } from '../engine/index.js';

/**
 * ROLE over a fresh TCP connection, with a tiny RESP reader. A fresh connection per probe on purpose: Sentinel's
 * promotion ends with CLIENT KILL TYPE normal, which would kill a kept connection at exactly the moment the
 * fast path needs an answer; a loopback connect costs well under a millisecond.
 */
export function probeRole(addr: string, password: string | null, timeoutMs = 300): Promise<RoleProbe> {
  const { host, port } = mustParseAddress(addr);
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    let buf = Buffer.alloc(0);
    const replies: unknown[] = [];
    const want = password === null ? 1 : 2;
    let settled = false;
    const done = (r: RoleProbe) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ error: `no answer within ${timeoutMs} ms` }), timeoutMs);
    sock.setNoDelay(true);
    sock.once('error', (e) => done({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
    sock.once('close', () => done({ error: 'connection closed' }));
    sock.once('connect', () => {
      const cmds = password === null ? [['ROLE']] : [['AUTH', password], ['ROLE']];
      sock.write(cmds.map(encodeCommand).join(''));
    });
    sock.on('data', (chunk) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      try {
        for (;;) {
          const r = parseResp(buf, 0);
          if (r === null) return;
          replies.push(r.value);
          buf = buf.subarray(r.next);
          if (replies.length === want) {
            const role = replies[want - 1];
            if (isRespError(role)) return done({ error: role.error.slice(0, 200) });
            const parsed = parseRoleReply(role);
            return done(parsed);
          }
        }
      } catch (e) {
        done({ error: `bad reply: ${(e as Error).message}` });
      }
    });
  });
}

function isRespError(v: unknown): v is RespError {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'error' in v;
}
