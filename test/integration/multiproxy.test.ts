import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyForShard } from '../../src/ops/failover-round.js';
import { isAlive, ourPid, readBackends, redisClient, waitFor } from '../../src/runtime/index.js';
import {
  agentPaths, allProxies, haproxyPaths, proxyPaths, proxyView, redisPaths, type ApplyMode, type ProxyInstance,
} from '../../src/topology/index.js';
import { prepareStack, type CliResult, type TestStack } from '../support/stack.js';
import { majorityMaster, writesLandOn } from './agent-helpers.js';

// Ports 24700-24999 belong to this file. Three hosts simulated by loopback addresses: the engines (both shards,
// the three sentinels) on 127.0.0.1, one proxy on 127.0.0.2 and one on 127.0.0.3, as one proxy per
// application host. Both proxies listen on the same port, as on two machines. Each host is started with its
// own `up --host`, at once.
const ENGINES = '127.0.0.1';
const HOST_A = '127.0.0.2';
const HOST_B = '127.0.0.3';

function description(base: number, apply: ApplyMode) {
  const e = (p: number) => `${ENGINES}:${base + p}`;
  return {
    shards: [
      { name: 's1', master: e(0), instances: [e(0), e(1), e(2)] },
      { name: 's2', master: e(10), instances: [e(10), e(11), e(12)] },
    ],
    sentinel: { instances: [e(20), e(21), e(22)], quorum: 2, downAfterMilliseconds: 1000, failoverTimeout: 10000 },
    proxy: { hash: 'murmur' as const },
    proxies: [
      { listen: `${HOST_A}:${base + 30}`, stats: `${HOST_A}:${base + 31}` },
      { listen: `${HOST_B}:${base + 30}`, stats: `${HOST_B}:${base + 31}` },
    ],
    agent: { apply },
  };
}

/** Where this proxy sends each shard: HAProxy's live backend (mode haproxy) or nutcracker's server line. */
async function targets(s: TestStack, p: ProxyInstance): Promise<Record<string, string>> {
  const v = proxyView(s.topo, p);
  if (v.agent.apply === 'haproxy') return Object.fromEntries(Object.entries(await readBackends(v)).map(([k, b]) => [k, b.addr]));
  const text = readFileSync(proxyPaths(p.dir).conf, 'utf8');
  return Object.fromEntries([...text.matchAll(/- (\S+):\d+ (\S+)/g)].map((m) => [m[2]!, m[1]!]));
}

function proxyPids(s: TestStack, p: ProxyInstance): number[] {
  const files = [agentPaths(p.dir).supervisorPid, agentPaths(p.dir).pid, proxyPaths(p.dir).pid, haproxyPaths(p.dir).pid];
  return files.map((f) => ourPid(f, s.topo.stateDir)).filter((x): x is number => x !== null);
}

const started = (r: CliResult) => [...r.stdout.matchAll(/^started (\w+) (\S+)/gm)].map((m) => `${m[1]} ${m[2]}`).sort();

function killMaster(s: TestStack, addr: string): void {
  process.kill(ourPid(redisPaths(s.topo.stateDir, addr).pid, s.topo.stateDir)!, 'SIGKILL');
}

async function bothFollow(s: TestStack, shard: string, old: string): Promise<string> {
  const index = s.topo.shards.findIndex((x) => x.name === shard);
  const m = await waitFor(
    async () => {
      const x = await majorityMaster(s.topo, shard);
      return x !== null && x !== old ? x : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100, what: `the sentinels to elect a new master of ${shard}` },
  );
  for (const p of allProxies(s.topo)) {
    const key = keyForShard(s.topo, index, `mp:${p.listen}:`);
    await waitFor(() => writesLandOn(p.listen, key, m), { timeoutMs: 15_000, intervalMs: 100, what: `proxy ${p.listen}'s writes to ${shard} to land on ${m}` });
  }
  return m;
}

/** SET and GET through `proxy` on keys of every shard. */
async function servesEveryShard(s: TestStack, proxy: string): Promise<void> {
  const c = redisClient(proxy, null, { timeoutMs: 2000 });
  try {
    for (const [i, shard] of s.topo.shards.entries()) {
      for (let n = 0; n < 20; n++) {
        const key = keyForShard(s.topo, i, `mp:every:${shard.name}:${n}:`);
        expect(await c.set(key, `${shard.name}-${n}`)).toBe('OK');
        expect(await c.get(key)).toBe(`${shard.name}-${n}`);
      }
    }
  } finally {
    c.disconnect();
  }
}

async function upThreeHosts(s: TestStack): Promise<Record<string, CliResult>> {
  const [e, a, b] = await Promise.all([ENGINES, HOST_A, HOST_B].map((h) => s.cli(['up', '--host', h, '--timeout', '90'])));
  return { engines: e!, a: a!, b: b! };
}

describe('two proxies on two hosts, apply mode haproxy', () => {
  const BASE = 24700;
  let s: TestStack;
  let up: Record<string, CliResult>;
  const px = () => allProxies(s.topo);

  beforeAll(async () => {
    s = prepareStack(BASE, description(BASE, 'haproxy'));
    up = await upThreeHosts(s);
  }, 150_000);
  afterAll(async () => {
    await s?.stop();
  });

  it('each host\'s up starts its own proxy, HAProxy and agent, and nothing of the others', () => {
    for (const r of Object.values(up)) expect(r.code, r.stderr + r.stdout).toBe(0);
    const [a, b] = px();
    expect(started(up.engines!).every((l) => /^(redis|sentinel) 127\.0\.0\.1:/.test(l))).toBe(true);
    expect(started(up.a!)).toEqual([`agent ${a!.listen}`, `haproxy ${Object.values(a!.frontends).join(',')}`, `proxy ${a!.listen}`].sort());
    expect(started(up.b!)).toEqual([`agent ${b!.listen}`, `haproxy ${Object.values(b!.frontends).join(',')}`, `proxy ${b!.listen}`].sort());
    // Each one's HAProxy frontends are on its own host.
    expect(Object.values(a!.frontends).every((f) => f.startsWith(`${HOST_A}:`))).toBe(true);
    expect(Object.values(b!.frontends).every((f) => f.startsWith(`${HOST_B}:`))).toBe(true);
  });

  it('an agent for one of several proxies must be told which (--proxy), and a wrong one is named', async () => {
    const none = await s.cli(['agent']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--proxy: required when the description lists several proxies \(127\.0\.0\.2:24730, 127\.0\.0\.3:24730\)/);
    const wrong = await s.cli(['agent', '--proxy', '127.0.0.9:1']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/--proxy 127\.0\.0\.9:1: no proxy listens there/);
  });

  it('reshard --plan works with several proxies on this host; services install refuses several proxies (exit 2), changing nothing', async () => {
    // Both proxies are on this host (loopback): the reshard switches both (reshard-proxies.test.ts moves keys).
    const r = await s.cli(['reshard', '--plan']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^change: none/);
    const sv = await s.cli(['services', 'install', '--dry-run', '--host', HOST_A]);
    expect(sv.code).toBe(2);
    expect(sv.stderr + sv.stdout).toMatch(/proxies lists 2 proxies; services install does not write units for several proxies yet/);
  });

  it('status shows every proxy, each shard\'s target through each, and is healthy', async () => {
    const r = await s.cli(['status', '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout) as { proxies: Array<{ listen: string; up: boolean; agent: { running: boolean } }>; shards: Array<{ master: string; proxies: Array<{ listen: string; target: string; agrees: boolean }> }> };
    expect(rep.proxies.map((p) => [p.listen, p.up, p.agent.running])).toEqual(px().map((p) => [p.listen, true, true]));
    for (const sh of rep.shards) expect(sh.proxies.map((p) => [p.listen, p.target, p.agrees])).toEqual(px().map((p) => [p.listen, sh.master, true]));
    const text = await s.cli(['status']);
    for (const p of px()) expect(text.stdout).toContain(`proxy      ${p.listen}  up`);
  });

  it('a kill -9 of a master: both proxies send the shard\'s writes to the new master', async () => {
    const old = (await majorityMaster(s.topo, 's1'))!;
    killMaster(s, old);
    const m = await bothFollow(s, 's1', old);
    for (const p of px()) expect((await targets(s, p)).s1).toBe(m);
  });

  it('one proxy that does not follow makes status unhealthy (exit 4), naming it; it catches up on its own', async () => {
    // The agent of proxy B (and its supervisor) is frozen, so B stays on the old master of s2.
    const [, b] = px();
    const frozen = [ourPid(agentPaths(b!.dir).supervisorPid, s.topo.stateDir)!, ourPid(agentPaths(b!.dir).pid, s.topo.stateDir)!];
    const old = (await majorityMaster(s.topo, 's2'))!;
    for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    try {
      killMaster(s, old);
      const a = px()[0]!;
      const index = s.topo.shards.findIndex((x) => x.name === 's2');
      const m = await waitFor(
        async () => {
          const x = await majorityMaster(s.topo, 's2');
          return x !== null && x !== old && (await writesLandOn(a.listen, keyForShard(s.topo, index, 'mp:a:'), x)) ? x : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 100, what: 'proxy A to follow s2' },
      );
      expect((await targets(s, b!)).s2).toBe(old);
      const r = await s.cli(['status']);
      expect(r.code).toBe(4);
      expect(r.stdout).toContain(`s2: through proxy ${b!.listen}: the proxy (through HAProxy) sends this shard to ${old}, but the sentinels' master is ${m}`);
      expect(r.stdout).toContain(`proxy ${b!.listen} -> ${old} (DISAGREES)`);
    } finally {
      for (const pid of frozen) process.kill(pid, 'SIGCONT');
    }
    await bothFollow(s, 's2', old);
  });

  it('bench failover checks that every proxy follows and reports each one', async () => {
    // The killed instances come back first (as replicas), so the stack is healthy for the benchmark.
    const r0 = await s.cli(['up', '--host', ENGINES, '--timeout', '90']);
    expect(r0.code, r0.stderr).toBe(0);
    const r = await s.cli(['bench', 'failover', '--runs', '1', '--shard', 's1'], { timeoutMs: 150_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`every proxy followed: ${px().map((p) => `${p.listen.replace(/\./g, '\\.')} [0-9.]+ m?s`).join(', ')}`));
    for (const p of px()) expect(r.stdout).toMatch(new RegExp(`proxy ${p.listen.replace(/\./g, '\\.')}: kill -> its writes on the new master: median`));
  }, 180_000);

  it('down --host of one proxy\'s host stops only its parts; the other proxy serves every shard; status says which is down', async () => {
    const [a, b] = px();
    const bPids = proxyPids(s, b!);
    const aPids = proxyPids(s, a!);
    expect(bPids).toHaveLength(4);
    const r = await s.cli(['down', '--host', HOST_B]);
    expect(r.code, r.stderr).toBe(0);
    for (const pid of bPids) expect(isAlive(pid)).toBe(false);
    for (const pid of aPids) expect(isAlive(pid)).toBe(true);
    await servesEveryShard(s, a!.listen);
    const st = await s.cli(['status']);
    expect(st.code).toBe(4);
    expect(st.stdout).toContain(`proxy ${b!.listen} does not answer`);
    // And it still follows a failover alone.
    const old = (await majorityMaster(s.topo, 's1'))!;
    killMaster(s, old);
    const index = s.topo.shards.findIndex((x) => x.name === 's1');
    await waitFor(
      async () => {
        const x = await majorityMaster(s.topo, 's1');
        return x !== null && x !== old && (await writesLandOn(a!.listen, keyForShard(s.topo, index, 'mp:alone:'), x));
      },
      { timeoutMs: 30_000, intervalMs: 100, what: 'proxy A alone to follow s1' },
    );
    await servesEveryShard(s, a!.listen);
  });
});

describe('two proxies on two hosts, apply mode supervise', () => {
  const BASE = 24850;
  let s: TestStack;
  const px = () => allProxies(s.topo);

  beforeAll(async () => {
    s = prepareStack(BASE, description(BASE, 'supervise'));
    const up = await upThreeHosts(s);
    for (const r of Object.values(up)) if (r.code !== 0) throw new Error(`up failed: ${r.stderr}${r.stdout}`);
  }, 150_000);
  afterAll(async () => {
    await s?.stop();
  });

  it('both proxies follow a kill -9 of a master; kill -9 of one proxy host\'s processes leaves the other serving every shard', async () => {
    const old = (await majorityMaster(s.topo, 's2'))!;
    killMaster(s, old);
    const m = await bothFollow(s, 's2', old);
    for (const p of px()) expect((await targets(s, p)).s2).toBe(m);

    const [a, b] = px();
    const pids = proxyPids(s, b!);
    expect(pids).toHaveLength(3); // supervisor, agent, nutcracker (no HAProxy in this mode)
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    await waitFor(() => pids.every((p) => !isAlive(p)), { timeoutMs: 5000, intervalMs: 20, what: 'proxy B\'s processes to die' });
    await servesEveryShard(s, a!.listen);
  });
});
