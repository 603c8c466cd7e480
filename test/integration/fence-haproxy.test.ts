import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyForShard } from '../../src/ops/failover-round.js';
import { readHaproxyFenced } from '../../src/render/index.js';
import { ourPid, readBackends, waitFor, withClient } from '../../src/runtime/index.js';
import { agentPaths, haproxyPaths, sentinelPaths, type Topology } from '../../src/topology/index.js';
import { upStack, type TestStack } from '../support/stack.js';
import { agentPid, diagnose, Freezer, readEvents, redisPid } from './agent-helpers.js';

// Ports 28100-28141 belong to this file (s1 28100-02, s2 28110-12, sentinels 28120-22, proxy 28130, stats 28131,
// HAProxy frontends 28140-41). Fencing in apply mode haproxy (the default), against a real HAProxy: the agent's
// side of a split is made on one host by stopping (SIGSTOP) two of the three sentinels, so the agent sees no
// majority, and s1's two replicas, so nothing it can reach confirms s1's master; s2's replicas keep running, so
// s2's master stays confirmed. (The real split, with a failover on the other side, is partitions.test.ts.)
const BASE = 28100;

describe('fencing in apply mode haproxy', () => {
  let s: TestStack;
  let topo: Topology;
  const frozen = new Freezer();
  const cont = () => frozen.cont();

  beforeAll(async () => {
    s = await upStack(BASE);
    topo = s.topo;
    expect(topo.agent.apply).toBe('haproxy');
    expect(topo.agent.fence.enabled).toBe(true);
    await waitFor(() => readEvents(topo).filter((e) => e.event === 'sentinel-connected').length >= 3, { timeoutMs: 20_000, what: 'the agent to connect to 3 sentinels' });
  }, 150_000);

  afterAll(async () => {
    // Stopped processes first get going again, so `down` can stop them by SIGTERM.
    cont();
    await s?.stop();
  }, 60_000);

  /** SET through the proxy: 'OK' or the error, and how long it took. */
  const set = async (shard: number, tag: string) => {
    const key = keyForShard(topo, shard, `fence-haproxy:${tag}:`);
    const t0 = performance.now();
    const r = await withClient(topo.proxy.listen, null, (c) => c.set(key, 'v'), { timeoutMs: 2000 }).then(
      () => 'OK',
      (e: Error) => e.message,
    );
    return { r, ms: performance.now() - t0 };
  };
  /** The agent's events stamped at or after `t` (ms). */
  const eventsSince = (_topo: Topology, t: number) => readEvents(topo).filter((e) => Date.parse(e.ts) >= t);
  const passes = () => Number(readFileSync(agentPaths(topo.proxyDir).passes, 'utf8').trim());
  const fencedInFile = () => readHaproxyFenced(readFileSync(haproxyPaths(topo.proxyDir).conf, 'utf8'));

  it('no majority and an unconfirmed master: that shard is fenced (maintenance, also in haproxy.cfg), survives HAProxy and agent restarts, and is unfenced on the same master once the majority is back', async (ctx) => {
    ctx.onTestFailed(async () => {
      cont();
      process.stderr.write(`\n${await diagnose(topo)}\n`);
    });
    const s1 = topo.shards[0]!;
    const master = (await readBackends(topo)).s1!.addr;
    expect(master).toBe(s1.master);
    expect((await set(0, 'before')).r).toBe('OK');
    const t0 = Date.now();
    // The agent's "minority": one sentinel of three, and no replica of s1's master that answers.
    for (const a of topo.sentinel.instances.slice(1)) {
      const pid = ourPid(sentinelPaths(topo.stateDir, a).pid, topo.stateDir)!;
      frozen.freeze(pid);
    }
    for (const a of s1.instances.filter((x) => x !== master)) {
      const pid = redisPid(topo, a);
      frozen.freeze(pid);
    }
    const fence = await waitFor(() => eventsSince(topo, t0).find((e) => e.event === 'fence'), { timeoutMs: 15_000, what: 'the agent to fence s1' });
    expect(fence.shard).toBe('s1');
    expect(fence.from).toBe(master);
    // Not before the majority had been missing for down-after (1 s).
    expect(Number(fence.noMajorityMs)).toBeGreaterThan(topo.sentinel.downAfterMilliseconds);
    // HAProxy keeps the address it was fenced from, in maintenance; the file says so too, for a restart.
    expect((await readBackends(topo)).s1).toEqual({ addr: master, maint: true });
    expect(fencedInFile()).toEqual(['s1']);
    // Clients get an error at once (not a timeout); the other shard, whose master is confirmed, keeps serving.
    const refused = await set(0, 'fenced');
    expect(refused.r).not.toBe('OK');
    expect(refused.ms).toBeLessThan(1000);
    expect((await set(1, 'fenced')).r).toBe('OK');
    expect((await readBackends(topo)).s2!.maint).toBe(false);

    // HAProxy dies while the fence holds: the agent starts it again, fenced (from its file).
    const hPid = ourPid(haproxyPaths(topo.proxyDir).pid, topo.stateDir)!;
    process.kill(hPid, 'SIGKILL');
    await waitFor(
      async () => {
        const p = ourPid(haproxyPaths(topo.proxyDir).pid, topo.stateDir);
        return p !== null && p !== hPid && (await readBackends(topo).catch(() => null)) !== null;
      },
      { timeoutMs: 15_000, what: 'a new HAProxy answering' },
    );
    expect((await readBackends(topo)).s1).toEqual({ addr: master, maint: true });
    expect((await set(0, 'after-haproxy-restart')).r).not.toBe('OK');

    // The agent dies while the fence holds: the new one sees the fence in HAProxy and keeps it (no majority).
    const aPid = agentPid(topo)!;
    const tKill = Date.now();
    process.kill(aPid, 'SIGKILL');
    await waitFor(() => eventsSince(topo, tKill).some((e) => e.event === 'agent-started') && agentPid(topo) !== aPid, { timeoutMs: 20_000, what: 'the agent to be restarted' });
    const p0 = passes();
    await waitFor(() => passes() >= p0 + 3, { timeoutMs: 20_000, what: 'three passes of the new agent' });
    expect((await readBackends(topo)).s1).toEqual({ addr: master, maint: true });
    expect(eventsSince(topo, tKill).filter((e) => e.event === 'unfence')).toEqual([]);

    // The majority is back (and s1's replicas): unfenced, on the master the majority names, in HAProxy and its file.
    const tHeal = Date.now();
    cont();
    const unfence = await waitFor(() => eventsSince(topo, tHeal).find((e) => e.event === 'unfence'), { timeoutMs: 30_000, what: 'the agent to unfence s1' });
    expect(unfence.shard).toBe('s1');
    expect(unfence.to).toBe(master);
    expect((await readBackends(topo)).s1).toEqual({ addr: master, maint: false });
    expect(fencedInFile()).toEqual([]);
    await waitFor(async () => (await set(0, 'after')).r === 'OK', { timeoutMs: 15_000, what: 'writes to s1 after the unfence' });
    const st = await s.cli(['status', '--json']);
    expect(JSON.parse(st.stdout).healthy, st.stdout).toBe(true);
  }, 180_000);
});
