import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { startAgent, type Agent } from '../../src/agent/index.js';
import { encodeCommand, parseResp } from '../../src/engine/index.js';
import { renderNutcrackerYml } from '../../src/render/index.js';
import { waitFor } from '../../src/runtime/index.js';
import { loadTopology, proxyPaths, type Topology } from '../../src/topology/index.js';
import { testDescription } from '../support/stack.js';
import { pickFreePorts, readEvents } from './agent-helpers.js';

// Ports 14000-14999 belong to this file (free ones picked per test). No Redis here: fake sentinels that
// answer nonsense, or nothing; the shard addresses are only written into configs, never connected to.
const BASE = 14000;

type Behaviour = 'garbage' | 'silent' | { liar: string };

/** A TCP server that speaks just enough RESP to be subscribed to and asked SENTINEL questions. */
function fakeSentinel(port: number, behaviour: Behaviour): Promise<Server> {
  const sockets = new Set<Socket>();
  const bulk = (s: string) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
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
        const cmd = (r.value as string[]).map((x) => String(x).toUpperCase());
        if (behaviour === 'silent') continue;
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

describe('agent given nonsense by its sentinels', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function setup(behaviours: Array<Behaviour | 'closed'>): Promise<{ topo: Topology; agent: Agent; conf: string; before: string }> {
    const ports = await pickFreePorts(BASE + 100, BASE + 999, behaviours.length);
    const dir = mkdtempSync(join(tmpdir(), 'redis-shard-agent-bad-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    for (const [i, b] of behaviours.entries()) {
      if (b === 'closed') continue;
      const srv = await fakeSentinel(ports[i]!, b);
      cleanup.push(() => new Promise<void>((r) => srv.close(() => r())));
    }
    const file = join(dir, 'redis-shard.yml');
    const desc = testDescription(BASE, { agent: { apply: 'staging', reconcileIntervalMs: 100 } });
    desc.sentinel = { ...desc.sentinel, instances: ports.map((p) => `127.0.0.1:${p}`) };
    writeFileSync(file, stringify(desc));
    const topo = loadTopology({ config: file });
    const conf = proxyPaths(topo.stateDir).conf;
    mkdirSync(proxyPaths(topo.stateDir).dir, { recursive: true });
    const before = renderNutcrackerYml(topo, {}, null);
    writeFileSync(conf, before);
    const agent = startAgent(topo, { password: null });
    cleanup.push(() => agent.stop());
    return { topo, agent, conf, before };
  }

  it('garbage, silence and a refused connection: no majority, no action, keeps running, says why', async () => {
    const { topo, agent, conf, before } = await setup(['garbage', 'silent', 'closed']);
    await waitFor(() => agent.passCount >= 5, { timeoutMs: 15_000, what: '5 reconcile passes' });
    const ev = readEvents(topo);
    const garbage = ev.filter((e) => e.event === 'sentinel-garbage');
    // Three garbage events arrive at once; one is logged, the others counted (one per sentinel per second).
    expect(garbage.length).toBeGreaterThanOrEqual(1);
    expect(String(garbage[0]!.why)).toMatch(/not a port/);
    const holds = ev.filter((e) => e.event === 'reconcile-hold');
    expect(holds.map((e) => `${e.shard}:${e.reason}`).sort()).toEqual(['s1:no-majority', 's2:no-majority']);
    const detail = String(holds[0]!.detail);
    expect(detail).toMatch(/0 of 3 sentinels answered/);
    expect(detail).toMatch(/timed out|not connected/i);
    expect(readFileSync(conf, 'utf8')).toBe(before);
    expect(existsSync(topo.stagingFile)).toBe(false);
    expect(ev.some((e) => e.event === 'config-applied')).toBe(false);
  });

  it('a majority naming an address outside the shard: refused, nothing written', async () => {
    const stranger = `127.0.0.1:${BASE + 99}`;
    const { topo, agent, conf, before } = await setup([{ liar: stranger }, { liar: stranger }, 'closed']);
    await waitFor(() => agent.passCount >= 3, { timeoutMs: 15_000, what: '3 reconcile passes' });
    const holds = readEvents(topo).filter((e) => e.event === 'reconcile-hold');
    expect(holds.map((e) => e.reason)).toEqual(['not-an-instance', 'not-an-instance']);
    expect(String(holds[0]!.detail)).toContain(stranger);
    expect(readFileSync(conf, 'utf8')).toBe(before);
    expect(existsSync(topo.stagingFile)).toBe(false);
  });
});
