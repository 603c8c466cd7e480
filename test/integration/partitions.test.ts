import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabStack } from '../../src/ops/partition/lab-stack.js';
import { runScenario, type ScenarioName, type ScenarioResult, type ScenarioTiming } from '../../src/ops/partition/scenarios.js';
import { labNamespaces, netnsAvailable, readBackends } from '../../src/runtime/index.js';
import { redisSchema } from '../../src/topology/schema.js';

// Network splits between network-namespace hosts (issue 13). Lab net 10.231.113.0/24, ports 28000-28041 inside
// the lab's own namespaces, names with a per-run suffix. One stack (layout "separate": proxy, agent and clients
// on host c; h1..h3 each a sentinel and one instance of each shard) serves every scenario; each scenario heals
// and waits for convergence in its own finally, so the next one starts from a healthy stack. Every scenario runs
// at the defaults (apply mode haproxy, fencing on, min-replicas-max-lag 2); b also without fencing, and, last, b
// with fencing in apply mode supervise (the fence there is an address on nutcracker's server line, not HAProxy's
// maintenance state: the one scenario where the modes differ). Holds are short here; `redis-shard
// partition-test` runs the long ones and prints the figures (docs/partitions.md).
const avail = await netnsAvailable();
if (!avail.ok) {
  const bar = '!'.repeat(100);
  process.stderr.write(`\n${bar}\n!!! SKIPPED test/integration/partitions.test.ts: it needs root and ip netns (${avail.why}).\n!!! The partition scenarios (issue 13) did NOT run.\n${bar}\n\n`);
}

const LAG = redisSchema.parse({}).minReplicasMaxLag;
const T: ScenarioTiming = { preMs: 1500, holdMs: 6000, postMs: 1000, convergeTimeoutMs: 60_000 };
const suffix = `t${process.pid % 100000}`;

/** Processes whose working directory or state marker is under `dir`. */
function processesUnder(dir: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readlinkSync(`/proc/${p}/cwd`).startsWith(dir)) out.push(Number(p));
      else if (readFileSync(`/proc/${p}/environ`, 'latin1').includes(`=${dir}`)) out.push(Number(p));
    } catch {
      /* gone, or not ours to read */
    }
  }
  return out;
}

function summary(r: ScenarioResult): string {
  return JSON.stringify({ ...r, check: { ...r.check, shards: r.check.shards.map(({ lostAckTimes: _l, ...x }) => x) } });
}

describe.skipIf(!avail.ok)('partitions between hosts (network namespaces)', () => {
  let stack: LabStack | null = null;
  let dir = '';
  const run = async (s: ScenarioName, t: ScenarioTiming = T) => {
    const r = await runScenario(stack!, s, t, (l) => process.stdout.write(`[partitions] ${l}\n`));
    process.stdout.write(`[partitions] ${s}: ${summary(r)}\n`);
    // Every run ends converged (runScenario waited for `status` healthy) with the proxy on the masters the
    // sentinels name; and no write is ever read back that nobody tried.
    expect(r.convergedMs).toBeGreaterThanOrEqual(0);
    expect(r.check.unexpected).toBe(0);
    const st = await stack!.status();
    expect(st?.healthy, st?.problems.join('; ')).toBe(true);
    return r;
  };

  beforeAll(async () => {
    stack = await LabStack.start({ layout: 'separate', net: '10.231.113', suffix, fence: true, minReplicasMaxLag: LAG });
    expect(stack.apply).toBe('haproxy');
    dir = stack.dir;
  }, 180_000);

  afterAll(async () => {
    await stack?.destroy();
  }, 120_000);

  it('c: a host with a sentinel and replicas but no master cut off: nothing changes, nothing is lost, nothing fenced', async () => {
    const r = await run('sentinel-cut');
    expect(r.failedOver).toEqual([]);
    expect(r.proxyAfter).toEqual(r.proxyBefore);
    expect(r.fences).toEqual([]);
    expect(r.check.lost).toBe(0);
    expect(r.check.acked).toBeGreaterThan(0);
  }, 120_000);

  it('d: the agent cut off from every sentinel but not from Redis: the proxy stays, nothing lost, never fenced', async () => {
    const r = await run('agent-cut');
    expect(r.failedOver).toEqual([]);
    expect(r.proxyAfter).toEqual(r.proxyBefore);
    expect(r.fences).toEqual([]);
    expect(r.check.lost).toBe(0);
    for (const s of r.check.shards) expect(s.errored, `${s.shard} errors`).toBe(0);
  }, 120_000);

  it('a normal failover (kill -9 of a master) with fencing on: no fence, no acknowledged write lost after the kill', async () => {
    const r = await run('master-kill');
    expect(r.failedOver).toEqual(['s1']);
    expect(r.fences).toEqual([]);
    expect(r.lostAfterSplit).toBe(0);
  }, 120_000);

  it('a: the host of a shard\'s master cut off, the proxy on the majority side: fails over; only writes replication had not carried at the split are lost', async () => {
    const r = await run('master-cut');
    // With one sentinel cut off, the two left can split their vote and retry only after 2 x failover-timeout
    // (Sentinel's rule; seen about once in eight runs on a loaded machine): then nothing fails over within the
    // hold, and nothing may be lost at all.
    if (r.failedOver.length === 0) process.stdout.write('[partitions] a: no failover within the hold (the two sentinels split their vote)\n');
    expect(r.fences).toEqual([]);
    // The proxy cannot reach the cut-off master during the cut: nothing acknowledged in the cut is lost. After the
    // heal the old master can take writes again (replicas' late ACKs, see b) until the agent moves the proxy: if the
    // failover lands after the heal (a split vote delays it), those are lost; measured and bounded by that move.
    const switchAt = stack!
      .agentEvents(r.healAt!, ['config-applied'])
      .filter((e) => (e.changes as Array<{ shard: string }>).some((c) => r.cutShards.includes(c.shard)))
      .map((e) => Date.parse(e.ts))[0];
    const after = r.check.shards.flatMap((x) => x.lostAckTimes).filter((t) => t >= r.splitAt!);
    expect(after.filter((t) => t < r.healAt! || switchAt === undefined || t > switchAt + 50)).toEqual([]);
    if (after.length > 0) process.stdout.write(`[partitions] a: ${after.length} lost, acknowledged after the heal before the proxy moved (${switchAt! - r.healAt!} ms)\n`);
    // Before it, at most what the replicas had not acknowledged (bytes of replication stream; an SADD of this
    // test is more than 30 bytes of it).
    const gap = Object.values(r.replicationGapBytes).reduce((a, b) => a + Math.max(0, b), 0);
    expect(r.lostBeforeSplit).toBeLessThanOrEqual(Math.floor(gap / 30));
    process.stdout.write(`[partitions] a: lost ${r.lostBeforeSplit} acknowledged writes; the replicas had not acknowledged ${gap} bytes at the split\n`);
  }, 120_000);

  const fencedJepsen = async () => {
    const r = await run('jepsen');
    // Every shard whose master was on the cut-off side (one, or both when earlier failovers put both masters on
    // one host) is fenced, whether or not the other side fails it over.
    expect(r.cutShards.length).toBeGreaterThan(0);
    for (const shard of r.cutShards) {
      const fence = r.fences.find((f) => f.shard === shard);
      expect(fence, `a fence of the cut-off shard ${shard}`).toBeDefined();
      // Detection: afterMs (down-after, 1 s) counted from the last pass that saw the majority (at most one
      // reconcile interval, 1 s, before the split), plus the pass that sees it missing (300 ms timeouts) and the
      // probes of the shard (300 ms), plus the proxy restart: 3 s at most.
      expect(fence!.atMs).toBeLessThanOrEqual(3000);
      // That shard's loss stops at its fence.
      const lost = r.check.shards.find((x) => x.shard === shard)!.lostAckTimes.filter((t) => t >= r.splitAt!);
      expect(Math.max(0, ...lost.map((t) => t - r.splitAt!)), `${shard}: last lost write after its fence`).toBeLessThanOrEqual(fence!.atMs);
    }
    // The same bound as partition-test's "lost after fence" column prints it.
    expect(r.lostAfterFence).toBe(0);
    // Unfenced once the majority is back: the proxy is on the new master (status healthy, checked in run()).
    expect(r.unfences.map((u) => u.shard)).toEqual(expect.arrayContaining(r.fences.map((f) => f.shard)));
    return r;
  };

  it('b with fencing (apply mode haproxy: the backend in maintenance): fenced within the detection time, the loss stops there, unfenced onto the elected master', async () => {
    const r = await fencedJepsen();
    // Unfenced in HAProxy itself: out of maintenance, on the master the sentinels' majority names (the new one
    // when the other side failed over during the fence).
    const live = await readBackends(stack!.topo);
    const st = await stack!.status();
    for (const shard of r.cutShards) {
      expect(live[shard]!.maint, `${shard} still in maintenance`).toBe(false);
      expect(live[shard]!.addr).toBe(st!.shards.find((x) => x.name === shard)!.master);
    }
  }, 120_000);

  it('e: flapping (split 2 s, heal 2 s, for 12 s) ends converged, with no write read back that was never tried', async () => {
    await run('flapping', { ...T, holdMs: 12_000, flapMs: 2000 });
  }, 150_000);

  it(`b without fencing (Jepsen's case): the cut-off master acknowledges writes that are lost, only within min-replicas-max-lag ${LAG} s (+2 s of Redis's whole-second clock and once-a-second check)`, async () => {
    await stack!.setFence(false);
    const r = await run('jepsen');
    expect(r.fences).toEqual([]);
    if (r.failedOver.length === 0) {
      // The majority side's two sentinels split their vote (see a): the old master stays master, keeps its writes.
      expect(r.check.lost).toBe(0);
    } else {
      expect(r.check.lost).toBeGreaterThan(0);
      // Two windows, measured: (1) from the split until min-replicas stops the cut-off master, at most max-lag + 2 s;
      // (2) from the heal until the agent moves the proxy to the new master: REPLCONF ACKs that replicas sent into
      // the cut arrive by TCP retransmission after the heal and make the old master writable again for that moment.
      const switchAt = stack!
        .agentEvents(r.healAt!, ['config-applied'])
        .filter((e) => (e.changes as Array<{ shard: string }>).some((c) => r.cutShards.includes(c.shard)))
        .map((e) => Date.parse(e.ts))[0];
      expect(switchAt, 'the proxy moved to the new master after the heal').toBeDefined();
      const lostTimes = r.check.shards.flatMap((x) => x.lostAckTimes).filter((t) => t >= r.splitAt!);
      const outside = lostTimes.filter((t) => !(t - r.splitAt! <= (LAG + 2) * 1000 || (t >= r.healAt! && t <= switchAt! + 50)));
      process.stdout.write(`[partitions] b: ${lostTimes.filter((t) => t < r.healAt!).length} lost acknowledged in the cut, ${lostTimes.filter((t) => t >= r.healAt!).length} after the heal before the proxy moved (${switchAt! - r.healAt!} ms)\n`);
      expect(outside).toEqual([]);
    }
  }, 120_000);

  it('b with fencing in apply mode supervise (the fence is an address on nutcracker\'s server line)', async () => {
    await stack!.setApply('supervise', true);
    const r = await fencedJepsen();
    expect(r.apply).toBe('supervise');
  }, 150_000);

  it('teardown leaves nothing behind: no namespace, no process', async () => {
    await stack!.destroy();
    stack = null;
    expect(await labNamespaces(suffix)).toEqual([]);
    expect(processesUnder(dir)).toEqual([]);
  }, 120_000);
});
