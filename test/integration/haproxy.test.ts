import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyForShard } from '../../src/ops/failover-round.js';
import { proxyProbe } from '../../src/ops/client-probe.js';
import { RawWriter } from '../../src/ops/raw-client.js';
import { fenceShard, ourPid, portAccepts, readBackends, unfenceShard, waitFor, withClient } from '../../src/runtime/index.js';
import { haproxyPaths, mustParseAddress, proxyPaths, type Topology } from '../../src/topology/index.js';
import { upStack, type TestStack } from '../support/stack.js';
import { agentPid, diagnose, majorityMaster, proxyPid, readEvents, redisPid, waitFailoverDone } from './agent-helpers.js';

// Ports 29000-29199 belong to this file: the haproxy-mode stack on 29000-29041 (frontends 29040, 29041), the
// supervise-mode stack for comparison on 29100-29131.
const HAPROXY_BASE = 29000;
const SUPERVISE_BASE = 29100;

/** Kills s1's master with SIGKILL while a reconnecting writer probes s1 and a raw writer writes to s2. */
async function killS1Master(s: TestStack): Promise<{ gapMs: number; raw: RawWriter; newMaster: string; old: string; proxyPidBefore: number | null }> {
  const topo = s.topo;
  const old = (await majorityMaster(topo, 's1'))!;
  expect(old).not.toBeNull();
  const proxyPidBefore = proxyPid(topo);
  const raw = new RawWriter(topo.proxy.listen, keyForShard(topo, 1, 'haproxy-test:raw:'));
  await raw.start();
  const probe = proxyProbe({ proxy: topo.proxy.listen, password: null, key: keyForShard(topo, 0, 'haproxy-test:gap:'), op: 'write', timeoutMs: 200 });
  probe.start();
  try {
    await waitFor(() => probe.lastSuccess() !== null && raw.report.ok > 0, { timeoutMs: 5000, what: 'both writers to succeed once' });
    process.kill(redisPid(topo, old), 'SIGKILL');
    const killedAt = performance.now();
    const newMaster = await waitFailoverDone(topo, 's1', old);
    await probe.waitSuccessAfter(performance.now(), 10_000);
    // Keep writing a little longer on s2, past the switch.
    const rawOk = raw.report.ok;
    await waitFor(() => raw.report.ok > rawOk + 20 || raw.report.dropped > 0, { timeoutMs: 5000, what: 'the raw writer to go on' });
    const report = await probe.stop();
    expect(killedAt).toBeGreaterThan(0);
    return { gapMs: report.longestGapMs, raw, newMaster, old, proxyPidBefore };
  } finally {
    await probe.stop().catch(() => undefined);
    await raw.stop();
  }
}

let haproxyGapMs: number | null = null;

describe('apply mode haproxy (the default)', () => {
  let s: TestStack;
  let topo: Topology;

  beforeAll(async () => {
    s = await upStack(HAPROXY_BASE);
    topo = s.topo;
    expect(topo.agent.apply).toBe('haproxy');
    await waitFor(() => readEvents(topo).filter((e) => e.event === 'sentinel-connected').length >= 3, { timeoutMs: 10_000, what: 'the agent to connect to 3 sentinels' });
  }, 120_000);

  afterAll(async () => {
    await s?.stop();
  });

  const failed = (ctx: { onTestFailed: (fn: () => Promise<void>) => void }) =>
    ctx.onTestFailed(async () => {
      process.stderr.write(`\n${await diagnose(topo)}\n`);
    });

  it('kill -9 of a master: nutcracker keeps its PID, a raw client on the other shard sees no error, HAProxy points at the new master', async (ctx) => {
    failed(ctx);
    const r = await killS1Master(s);
    haproxyGapMs = r.gapMs;
    process.stdout.write(`haproxy mode: s1 write gap ${Math.round(r.gapMs)} ms; raw s2 writer: ${r.raw.report.ok} OK, ${r.raw.report.errors} errors (${r.raw.report.errorSample ?? 'none'}), dropped ${r.raw.report.dropped}\n`);
    expect(proxyPid(topo)).toBe(r.proxyPidBefore);
    expect(r.raw.report.errors, r.raw.report.errorSample ?? '').toBe(0);
    expect(r.raw.report.dropped).toBe(0);
    expect((await readBackends(topo)).s1).toEqual({ addr: r.newMaster, maint: false });
    // Generous sanity only: the gap is mostly Sentinel's detection (down-after 1 s).
    expect(r.gapMs).toBeLessThan(15_000);
    const restored = await s.cli(['up', '--timeout', '90']);
    expect(restored.code, restored.stderr).toBe(0);
  }, 90_000);

  it('a demoted master (SENTINEL FAILOVER) does not keep nutcracker\'s connection: writes to that shard succeed on the new master', async (ctx) => {
    failed(ctx);
    const old = (await majorityMaster(topo, 's2'))!;
    const key = keyForShard(topo, 1, 'haproxy-test:demoted:');
    // nutcracker's connection to s2 (through HAProxy to the old master) exists before the switch.
    await withClient(topo.proxy.listen, null, (c) => c.set(key, 'before'));
    const proxyBefore = proxyPid(topo);
    await withClient(topo.sentinel.instances[0]!, null, (c) => c.call('SENTINEL', 'FAILOVER', 's2'));
    const next = await waitFailoverDone(topo, 's2', old);
    // The old master is alive and now a replica: a connection left on it would answer READONLY forever.
    const wrote = await waitFor(
      async () => {
        try {
          return (await withClient(topo.proxy.listen, null, (c) => c.set(key, 'after'), { timeoutMs: 500 })) === 'OK';
        } catch {
          return false;
        }
      },
      { timeoutMs: 10_000, intervalMs: 50, what: 'a write to s2 through the proxy to succeed' },
    );
    expect(wrote).toBe(true);
    expect(await withClient(next, null, (c) => c.get(key))).toBe('after');
    expect(proxyPid(topo)).toBe(proxyBefore);
  }, 60_000);

  it('HAProxy killed: the agent starts it again on the current masters', async (ctx) => {
    failed(ctx);
    const masters = { s1: (await majorityMaster(topo, 's1'))!, s2: (await majorityMaster(topo, 's2'))! };
    // Both shards have failed over above: the description's masters are no longer the current ones.
    expect(masters.s1).not.toBe(topo.shards[0]!.master);
    const pidFile = haproxyPaths(topo.stateDir).pid;
    const before = ourPid(pidFile, topo.stateDir)!;
    const nutcracker = proxyPid(topo);
    process.kill(before, 'SIGKILL');
    const after = await waitFor(() => {
      const p = ourPid(pidFile, topo.stateDir);
      return p !== null && p !== before ? p : undefined;
    }, { timeoutMs: 10_000, what: 'a new HAProxy' });
    expect(after).not.toBe(before);
    const backends = await waitFor(async () => readBackends(topo).catch(() => undefined), { timeoutMs: 5000, what: 'HAProxy to answer' });
    expect(backends).toEqual({ s1: { addr: masters.s1, maint: false }, s2: { addr: masters.s2, maint: false } });
    for (const [i, m] of [masters.s1, masters.s2].entries()) {
      const key = keyForShard(topo, i, 'haproxy-test:after-restart:');
      await waitFor(async () => (await withClient(topo.proxy.listen, null, (c) => c.set(key, 'x'), { timeoutMs: 500 }).catch(() => null)) === 'OK', {
        timeoutMs: 10_000,
        what: `a write to shard ${i} through the proxy`,
      });
      expect(await withClient(m, null, (c) => c.get(key))).toBe('x');
    }
    expect(proxyPid(topo)).toBe(nutcracker);
    expect(readEvents(topo).some((e) => e.event === 'haproxy-restarted' && e.pid === after)).toBe(true);
  }, 60_000);

  it('a description that moves HAProxy\'s frontends is refused while it runs, and nothing changes', async () => {
    const text = readFileSync(s.file, 'utf8');
    const desc = parse(text) as Record<string, Record<string, unknown>>;
    desc.proxy!.haproxy = { frontends: { s1: `127.0.0.1:${HAPROXY_BASE + 50}` } };
    writeFileSync(s.file, stringify(desc));
    const cfgBefore = readFileSync(haproxyPaths(topo.stateDir).conf, 'utf8');
    const nutBefore = readFileSync(proxyPaths(topo.stateDir).conf, 'utf8');
    try {
      const r = await s.cli(['up', '--timeout', '30']);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain('proxy.haproxy.frontends changed while HAProxy runs (');
      expect(r.stderr).toContain(`s1: 127.0.0.1:${HAPROXY_BASE + 40} -> 127.0.0.1:${HAPROXY_BASE + 50}`);
    } finally {
      writeFileSync(s.file, text);
    }
    expect(readFileSync(haproxyPaths(topo.stateDir).conf, 'utf8')).toBe(cfgBefore);
    expect(readFileSync(proxyPaths(topo.stateDir).conf, 'utf8')).toBe(nutBefore);
    expect(await portAccepts('127.0.0.1', HAPROXY_BASE + 50)).toBe(false);
  }, 60_000);

  it('fence takes one shard out of service and back, without touching the other', async (ctx) => {
    failed(ctx);
    const raw = new RawWriter(topo.proxy.listen, keyForShard(topo, 1, 'haproxy-test:fence-raw:'));
    await raw.start();
    const k1 = keyForShard(topo, 0, 'haproxy-test:fenced:');
    const setS1 = () => withClient(topo.proxy.listen, null, (c) => c.set(k1, 'v'), { timeoutMs: 1000 }).then(() => 'OK', (e: Error) => e.message);
    // The agent lifts any fence when the sentinels' majority names the shard's master (fence.ts, unfenceOnMajority):
    // paused here so this tests the runtime calls alone; fence-haproxy.test.ts tests the agent's fencing.
    const agent = agentPid(topo)!;
    process.kill(agent, 'SIGSTOP');
    try {
      expect(await setS1()).toBe('OK');
      await fenceShard(topo, 's1');
      expect((await readBackends(topo)).s1!.maint).toBe(true);
      expect((await readBackends(topo)).s2!.maint).toBe(false);
      expect(await setS1()).not.toBe('OK');
      const before = raw.report.ok;
      await waitFor(() => raw.report.ok > before + 20, { timeoutMs: 5000, what: 's2 writes while s1 is fenced' });
      await unfenceShard(topo, 's1');
      await waitFor(async () => (await setS1()) === 'OK', { timeoutMs: 10_000, what: 'writes to s1 after unfence' });
    } finally {
      await unfenceShard(topo, 's1').catch(() => undefined);
      process.kill(agent, 'SIGCONT');
      await raw.stop();
    }
    expect(raw.report.errors, raw.report.errorSample ?? '').toBe(0);
    expect(raw.report.dropped).toBe(0);
  }, 60_000);
});

describe('apply mode supervise, for comparison', () => {
  let s: TestStack;

  beforeAll(async () => {
    s = await upStack(SUPERVISE_BASE, { agent: { apply: 'supervise' } });
    await waitFor(() => readEvents(s.topo).filter((e) => e.event === 'sentinel-connected').length >= 3, { timeoutMs: 10_000, what: 'the agent to connect to 3 sentinels' });
  }, 120_000);

  afterAll(async () => {
    await s?.stop();
  });

  it('the failing shard\'s write gap in haproxy mode is no worse than here; here the proxy restart drops the raw client', async (ctx) => {
    ctx.onTestFailed(async () => {
      process.stderr.write(`\n${await diagnose(s.topo)}\n`);
    });
    const r = await killS1Master(s);
    process.stdout.write(`supervise mode: s1 write gap ${Math.round(r.gapMs)} ms (haproxy mode: ${haproxyGapMs === null ? 'not measured' : `${Math.round(haproxyGapMs)} ms`}); raw s2 writer dropped ${r.raw.report.dropped}\n`);
    // What haproxy mode avoids: the restart closes the connection of a client on a shard that never failed.
    expect(r.raw.report.dropped).toBeGreaterThan(0);
    expect(proxyPid(s.topo)).not.toBe(r.proxyPidBefore);
    expect(haproxyGapMs).not.toBeNull();
    // Both gaps are mostly Sentinel's detection and promotion; 1 s of slack absorbs a loaded machine, not a
    // data plane that is slower to switch.
    expect(haproxyGapMs!).toBeLessThan(r.gapMs + 1000);
  }, 90_000);
});
