import { parseRoleReply } from '../../src/engine/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, ourPid, portAccepts, redisClient, waitFor, withClient } from '../../src/runtime/index.js';
import { agentPaths, mustParseAddress, proxyPaths, redisPaths, sentinelPaths } from '../../src/topology/index.js';
import { prepareStack, type CliResult, type TestStack } from '../support/stack.js';
import { proxyServers as helperProxyServers } from './agent-helpers.js';

// Ports 17300-17399 belong to this file. Two hosts simulated on one machine by two loopback addresses:
// host A (127.0.0.1) has s1's master, a replica of each shard, two sentinels and the proxy (and so the agent);
// host B (127.0.0.2) has s2's master, the other replicas and the third sentinel. Sharing one state dir is an
// artefact of the simulation: each process still has its own folder, named by its address.
const BASE = 17300;
const A = (p: number) => `127.0.0.1:${BASE + p}`;
const B = (p: number) => `127.0.0.2:${BASE + p}`;

describe('two hosts', () => {
  let s: TestStack;
  const up: Record<string, CliResult> = {};
  const pidOf = (addr: string, kind: 'redis' | 'sentinel') =>
    ourPid((kind === 'redis' ? redisPaths : sentinelPaths)(s.topo.stateDir, addr).pid, s.topo.stateDir);
  const hostA = { redis: [A(0), A(1), A(12)], sentinels: [A(20), A(21)] };
  const hostB = { redis: [B(2), B(10), B(11)], sentinels: [B(22)] };

  beforeAll(async () => {
    s = prepareStack(BASE, {
      shards: [
        { name: 's1', master: A(0), instances: [A(0), A(1), B(2)] },
        { name: 's2', master: B(10), instances: [B(10), B(11), A(12)] },
      ],
      sentinel: { instances: [A(20), A(21), B(22)], quorum: 2, downAfterMilliseconds: 1000, failoverTimeout: 10000 },
      proxy: { listen: A(30), stats: A(31) },
    });
    // As on two machines, both hosts start at once: each waits for its replicas to link to masters on the other.
    const [ra, rb] = await Promise.all([s.cli(['up', '--host', '127.0.0.1', '--timeout', '90']), s.cli(['up', '--host', '127.0.0.2', '--timeout', '90'])]);
    up.a = ra;
    up.b = rb;
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('each host starts only its own parts', () => {
    expect(up.a!.stderr).toBe('');
    expect(up.a!.code).toBe(0);
    expect(up.b!.stderr).toBe('');
    expect(up.b!.code).toBe(0);
    const started = (r: CliResult) => [...r.stdout.matchAll(/^started (\w+) (\S+)/gm)].map((m) => `${m[1]} ${m[2]}`).sort();
    expect(started(up.a!)).toEqual(
      [
        ...hostA.redis.map((a) => `redis ${a}`), ...hostA.sentinels.map((a) => `sentinel ${a}`), `proxy ${A(30)}`, 'agent agent',
        // HAProxy (apply mode haproxy, the default) runs beside the proxy, on its derived loopback frontends.
        ...(s.topo.agent.apply === 'haproxy' ? [`haproxy ${Object.values(s.topo.haproxyFrontends).join(',')}`] : []),
      ].sort(),
    );
    expect(started(up.b!)).toEqual([...hostB.redis.map((a) => `redis ${a}`), ...hostB.sentinels.map((a) => `sentinel ${a}`)].sort());
  });

  it('every process binds only the address the description gives it; the proxy\'s stats only loopback', async () => {
    const other = (addr: string) => {
      const { host, port } = mustParseAddress(addr);
      return { host: host === '127.0.0.1' ? '127.0.0.2' : '127.0.0.1', port };
    };
    for (const addr of [...hostA.redis, ...hostA.sentinels, ...hostB.redis, ...hostB.sentinels, A(30), A(31)]) {
      const { host, port } = mustParseAddress(addr);
      expect(await portAccepts(host, port), addr).toBe(true);
      const o = other(addr);
      expect(await portAccepts(o.host, o.port), `${o.host}:${o.port} should not accept`).toBe(false);
    }
  });

  it('status, run as host B, reports the whole deployment', async () => {
    const r = await s.cli(['status', '--host', '127.0.0.2', '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const addr of [...hostA.redis, ...hostB.redis, ...hostA.sentinels, ...hostB.sentinels, A(30)]) expect(r.stdout, addr).toContain(addr);
  });

  it('a failover of the shard whose master is on host B is followed by the agent on host A', async () => {
    const proxyServers = () => helperProxyServers(s.topo);
    expect(proxyServers().s2).toBe(B(10));
    process.kill(pidOf(B(10), 'redis')!, 'SIGKILL');
    const elected = await waitFor(
      async () => {
        const m = proxyServers().s2;
        if (m === B(10)) return undefined;
        const role = parseRoleReply(await withClient(m!, null, (c) => c.call('ROLE'), { timeoutMs: 500 }));
        return 'role' in role && role.role === 'master' ? m : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: 'the proxy config to point s2 at its new master' },
    );
    expect([B(11), A(12)]).toContain(elected);
    // Every key, whichever shard it lands on, is written and read back through the proxy.
    const c = redisClient(A(30), null, { timeoutMs: 2000 });
    try {
      await waitFor(async () => (await c.set('mh:probe', '1')) === 'OK', { timeoutMs: 10_000, intervalMs: 100, what: 'the proxy to serve' });
      for (let i = 0; i < 200; i++) expect(await c.set(`mh:${i}`, String(i))).toBe('OK');
      for (let i = 0; i < 200; i++) expect(await c.get(`mh:${i}`)).toBe(String(i));
    } finally {
      c.disconnect();
    }
  });

  it('down --host 127.0.0.2 stops only host B\'s parts', async () => {
    const alive = [...hostA.redis.map((a) => pidOf(a, 'redis')!), ...hostA.sentinels.map((a) => pidOf(a, 'sentinel')!)];
    alive.push(ourPid(proxyPaths(s.topo.stateDir).pid, s.topo.stateDir)!, ourPid(agentPaths(s.topo.stateDir).supervisorPid, s.topo.stateDir)!);
    const bPids = [...hostB.redis.map((a) => pidOf(a, 'redis')), ...hostB.sentinels.map((a) => pidOf(a, 'sentinel'))].filter((p): p is number => p !== null);
    const r = await s.cli(['down', '--host', '127.0.0.2']);
    expect(r.code).toBe(0);
    for (const p of bPids) expect(isAlive(p), `B pid ${p}`).toBe(false);
    for (const p of alive) expect(isAlive(p), `A pid ${p}`).toBe(true);
  });

  it('a host name that matches nothing is refused, naming the hosts there are', async () => {
    const r = await s.cli(['up', '--host', '127.0.0.3']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--host 127\.0\.0\.3: matches nothing in .* \(its hosts: 127\.0\.0\.1, 127\.0\.0\.2\)/);
  });
});
