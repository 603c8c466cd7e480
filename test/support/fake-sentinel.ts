import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { parseResp } from '../../src/engine/index.js';
import { renderNutcrackerYml } from '../../src/render/index.js';
import { loadTopology, proxyPaths, type Topology } from '../../src/topology/index.js';
import { testDescription } from './stack.js';

/** silent: accepts and reads, never answers; garbage: answers nonsense; liar: names that address as master. */
export type FakeSentinelBehaviour = 'garbage' | 'silent' | { liar: string };

/** A RESP bulk string. */
export const bulk = (s: string) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;

/**
 * A TCP server on 127.0.0.1:`port` that reads RESP commands and hands each to `answer` (which writes the reply, or
 * nothing); malformed input closes the connection. Its close() also drops the open connections.
 */
export function respServer(port: number, answer: (cmd: string[], sock: Socket) => void): Promise<Server> {
  const sockets = new Set<Socket>();
  const srv = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        let r: ReturnType<typeof parseResp>;
        try {
          r = parseResp(buf, 0);
        } catch {
          return void sock.destroy();
        }
        if (!r) return;
        buf = buf.subarray(r.next);
        answer((r.value as unknown[]).map((x) => String(x)), sock);
      }
    });
  });
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => {
      const close = srv.close.bind(srv);
      srv.close = ((cb?: (err?: Error) => void) => {
        for (const s of sockets) s.destroy();
        return close(cb);
      }) as typeof srv.close;
      resolve(srv);
    });
  });
}

/** A TCP server that speaks just enough RESP to be subscribed to and asked SENTINEL questions. */
export function fakeSentinel(port: number, behaviour: FakeSentinelBehaviour): Promise<Server> {
  return respServer(port, (raw, sock) => {
    const cmd = raw.map((x) => x.toUpperCase());
    if (behaviour === 'silent') return;
    if (cmd[0] === 'PSUBSCRIBE') {
      sock.write(`*3\r\n${bulk('psubscribe')}${bulk('*')}:1\r\n`);
      if (behaviour === 'garbage') {
        const push = (ch: string, msg: string) => sock.write(`*4\r\n${bulk('pmessage')}${bulk('*')}${bulk(ch)}${bulk(msg)}`);
        push('+switch-master', 's1 127.0.0.1 not-a-port $(reboot) 1');
        push('+selected-slave', 'slave garbage');
        push('+odown', 'master s1 127.0.0.1');
      }
    } else if (cmd[0] === 'SENTINEL' && behaviour === 'garbage') {
      sock.write(cmd[1] === 'MASTER' ? `*3\r\n${bulk('ip')}${bulk('x')}${bulk('y')}` : `${bulk('hello')}`);
    } else if (cmd[0] === 'SENTINEL' && typeof behaviour === 'object') {
      const [ip, p] = behaviour.liar.split(':') as [string, string];
      sock.write(
        cmd[1] === 'MASTER'
          ? `*8\r\n${bulk('ip')}${bulk(ip)}${bulk('port')}${bulk(p)}${bulk('flags')}${bulk('master')}${bulk('config-epoch')}${bulk('99')}`
          : `*2\r\n${bulk(ip)}${bulk(p)}`,
      );
    } else {
      sock.write('+OK\r\n');
    }
  });
}

/**
 * Fake sentinels on `ports` (a 'closed' one gets no listener) and a staging-mode description in a temp dir that
 * names them, with the nutcracker.yml `up` would have written. Everything is undone by `cleanup`, last first.
 */
export async function topologyOnFakeSentinels(
  base: number,
  ports: number[],
  behaviours: Array<FakeSentinelBehaviour | 'closed'>,
  cleanup: Array<() => Promise<void> | void>,
): Promise<{ topo: Topology; conf: string; before: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'redis-shard-fake-sentinels-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  for (const [i, b] of behaviours.entries()) {
    if (b === 'closed') continue;
    const srv = await fakeSentinel(ports[i]!, b);
    cleanup.push(() => new Promise<void>((r) => srv.close(() => r())));
  }
  const file = join(dir, 'redis-shard.yml');
  const desc = testDescription(base, { agent: { apply: 'staging', reconcileIntervalMs: 100 } });
  desc.sentinel = { ...desc.sentinel, instances: ports.map((p) => `127.0.0.1:${p}`) };
  writeFileSync(file, stringify(desc));
  const topo = loadTopology({ config: file });
  const conf = proxyPaths(topo.stateDir).conf;
  mkdirSync(proxyPaths(topo.stateDir).dir, { recursive: true });
  const before = renderNutcrackerYml(topo, {}, null);
  writeFileSync(conf, before);
  return { topo, conf, before };
}
