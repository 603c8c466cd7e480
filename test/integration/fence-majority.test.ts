import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeRole } from '../../src/agent/role-probe.js';
import { keyForShard } from '../../src/ops/failover-round.js';
import { waitFor, withClient, ourPid } from '../../src/runtime/index.js';
import { agentPaths, sentinelPaths, type Topology } from '../../src/topology/index.js';
import { upStack, type TestStack } from '../support/stack.js';
import { diagnose, Freezer, proxyServers, readEvents, redisPid } from './agent-helpers.js';

// Ports 31350-31381 belong to this file. Apply mode supervise, fencing on (the default). Only the sentinels'
// majority lifts a fence (agent/fence.ts). partitions.test.ts failed when the agent unfenced on its own evidence
// just after a heal: the old master said master and the replicas said "connected" to it (a replica sees a dead
// link only after repl-timeout), while the majority's failover went on and promoted one of them, discarding the
// writes the unfenced proxy had acknowledged meanwhile. Made here on one host: two of three sentinels and s1's
// replicas SIGSTOPped (fenced), then the replicas resumed (they say "connected" to the master again) while the
// sentinels stay stopped: the fence holds; it comes off once the sentinels are back.
const BASE = 31350;

describe('a fence is lifted by the sentinels\' majority only (apply mode supervise)', () => {
  let s: TestStack;
  let topo: Topology;
  const sentinels = new Freezer();
  const replicas = new Freezer();
  const cont = () => {
    replicas.cont();
    sentinels.cont();
  };

  beforeAll(async () => {
    s = await upStack(BASE, { agent: { apply: 'supervise' } });
    topo = s.topo;
    expect(topo.agent.fence.enabled).toBe(true);
    await waitFor(() => readEvents(topo).filter((e) => e.event === 'sentinel-connected').length >= 3, { timeoutMs: 20_000, what: 'the agent to connect to 3 sentinels' });
  }, 150_000);

  afterAll(async () => {
    cont();
    await s?.stop();
  }, 60_000);

  const set = (tag: string) =>
    withClient(topo.proxy.listen, null, (c) => c.set(keyForShard(topo, 0, `fence-majority:${tag}:`), 'v'), { timeoutMs: 2000 }).then(
      () => 'OK',
      (e: Error) => e.message,
    );
  /** The agent's events stamped at or after `t` (ms). */
  const eventsSince = (t: number) => readEvents(topo).filter((e) => Date.parse(e.ts) >= t);
  const passes = () => Number(readFileSync(agentPaths(topo.proxyDir).passes, 'utf8').trim());

  it('replicas that say they follow the old master again do not unfence it while the majority is missing', async (ctx) => {
    ctx.onTestFailed(async () => {
      cont();
      process.stderr.write(`\n${await diagnose(topo)}\n`);
    });
    const s1 = topo.shards[0]!;
    const master = s1.master;
    expect(await set('before')).toBe('OK');
    const t0 = Date.now();
    for (const a of topo.sentinel.instances.slice(1)) sentinels.freeze(ourPid(sentinelPaths(topo.stateDir, a).pid, topo.stateDir)!);
    for (const a of s1.instances.filter((x) => x !== master)) replicas.freeze(redisPid(topo, a));
    const fence = await waitFor(() => eventsSince(t0).find((e) => e.event === 'fence'), { timeoutMs: 15_000, what: 'the agent to fence s1' });
    expect(fence).toMatchObject({ shard: 's1', from: master, to: topo.agent.fence.address });
    expect(proxyServers(topo).s1).toBe(topo.agent.fence.address);
    expect(await set('fenced')).not.toBe('OK');

    // The replicas are back and say they replicate from the master: what the old rule took as "confirmed again".
    replicas.cont();
    for (const r of s1.instances.filter((x) => x !== master)) {
      await waitFor(
        async () => {
          const role = await probeRole(r, null, 300);
          return 'role' in role && role.role === 'slave' && role.master === master && role.linkState === 'connected';
        },
        { timeoutMs: 15_000, what: `${r} to say it replicates from ${master}, connected` },
      );
    }
    // Every pass from here had that evidence; none may lift the fence while two sentinels of three are stopped.
    const p0 = passes();
    await waitFor(() => passes() >= p0 + 5, { timeoutMs: 30_000, what: 'five more passes of the agent' });
    expect(eventsSince(t0).filter((e) => e.event === 'unfence')).toEqual([]);
    expect(proxyServers(topo).s1).toBe(topo.agent.fence.address);
    expect(await set('still-fenced')).not.toBe('OK');
    expect(sentinels.frozen).toBe(2);

    // The majority is back: unfenced onto the master it names.
    const tHeal = Date.now();
    sentinels.cont();
    const unfence = await waitFor(() => eventsSince(tHeal).find((e) => e.event === 'unfence'), { timeoutMs: 30_000, what: 'the agent to unfence s1' });
    expect(unfence).toMatchObject({ shard: 's1', to: master });
    expect(String(unfence.why)).toMatch(/majority/);
    await waitFor(async () => (await set('after')) === 'OK', { timeoutMs: 15_000, what: 'writes to s1 after the unfence' });
    await waitFor(async () => JSON.parse((await s.cli(['status', '--json'])).stdout).healthy === true || undefined, { timeoutMs: 30_000, what: 'status healthy' });
  }, 150_000);
});
