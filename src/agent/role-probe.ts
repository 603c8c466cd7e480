import { connect } from 'node:net';
import { mustParseAddress } from '../topology/index.js';
import type { RoleProbe } from './analyze.js';
import { parseRoleReply } from './sentinel-parse.js';

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

export function encodeCommand(args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

export interface RespError {
  error: string;
}
function isRespError(v: unknown): v is RespError {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'error' in v;
}

/** One RESP2 value from `buf` at `at`: null when incomplete; throws when malformed. Integers come back as numbers. */
export function parseResp(buf: Buffer, at: number): { value: unknown; next: number } | null {
  if (at >= buf.length) return null;
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return buf.length - at > 64 * 1024 ? fail('line too long') : null;
  const type = String.fromCharCode(buf[at]!);
  const line = buf.toString('utf8', at + 1, eol);
  const next = eol + 2;
  switch (type) {
    case '+':
      return { value: line, next };
    case '-':
      return { value: { error: line } satisfies RespError, next };
    case ':':
      if (!/^-?[0-9]+$/.test(line)) return fail(`bad integer "${line}"`);
      return { value: Number(line), next };
    case '$': {
      const n = intOf(line);
      if (n < 0) return { value: null, next };
      if (buf.length < next + n + 2) return null;
      return { value: buf.toString('utf8', next, next + n), next: next + n + 2 };
    }
    case '*': {
      const n = intOf(line);
      if (n < 0) return { value: null, next };
      const items: unknown[] = [];
      let pos = next;
      for (let i = 0; i < n; i++) {
        const r = parseResp(buf, pos);
        if (r === null) return null;
        items.push(r.value);
        pos = r.next;
      }
      return { value: items, next: pos };
    }
    default:
      return fail(`unexpected type byte 0x${buf[at]!.toString(16)}`);
  }
}

function intOf(line: string): number {
  if (!/^-?[0-9]{1,9}$/.test(line)) fail(`bad length "${line}"`);
  return Number(line);
}

function fail(why: string): never {
  throw new Error(why);
}
