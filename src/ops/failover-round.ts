// Over 250 lines on purpose: one kill and everything that follows it, in order (probes, kill, waits by condition, every proxy confirmed).
/**
 * One kill and what follows: probes through the proxy on the affected shards, kill -9 of the chosen instances,
 * then waiting by conditions until every affected shard has failed over and the proxy serves its new master.
 * Shared by `failover-test` and `bench failover`.
 */
import { CheckFailedError, TransientError } from '../errors.js';
import { delay, localParts, withClient, waitFor } from '../runtime/index.js';
import { allProxies, type Topology } from '../topology/index.js';
import { proxyProbe, type ClientProbe, type ProbeReport } from './client-probe.js';
import {
  agentTimings, describeAnswers, eventsOffset, proxyServers, roleOf, sentinelView, shardOfAddr, type AgentTimings,
} from './failover-observe.js';
import { clearFollowKeys, waitProxiesFollow, type ProxyFollow } from './failover-proxies.js';
import { killInstances, type Killed } from './kill.js';
import { ringForTopology } from './locate.js';

/** A key that the proxy sends to `topo.shards[index]`, computed with nutcracker's own placement. */
export function keyForShard(topo: Topology, index: number, prefix: string): string {
  const ring = ringForTopology(topo);
  for (let i = 0; i < 100_000; i++) {
    const k = `${prefix}${i}`;
    if (ring.locate(Buffer.from(k)) === index) return k;
  }
  throw new CheckFailedError(`no key with prefix "${prefix}" lands on shard ${topo.shards[index]?.name}; its weight may be 0`);
}

/** Probe keys, one per shard, that no data set uses. */
export function probeKeys(topo: Topology, prefix = 'redis-shard:probe:'): Record<string, string> {
  return Object.fromEntries(topo.shards.map((s, i) => [s.name, keyForShard(topo, i, `${prefix}${s.name}:`)]));
}

/**
 * Whether the probe key really lives on the shard's master: written through the proxy, it must then exist on
 * that master. Catches a proxy whose placement differs from the hashring's before any figure is trusted.
 */
export async function checkProbeKeys(topo: Topology, password: string | null, keys: Record<string, string>, masters: Record<string, string>): Promise<void> {
  for (const shard of topo.shards) {
    const key = keys[shard.name]!;
    await withClient(topo.proxy.listen, password, (c) => c.set(key, 'placement-check'), { timeoutMs: 1000 });
    const found = await withClient(masters[shard.name]!, password, (c) => c.exists(key), { timeoutMs: 1000 });
    if (found !== 1) {
      throw new CheckFailedError(`probe key ${key} written through the proxy is not on ${shard.name}'s master ${masters[shard.name]}: the proxy's placement differs from the description's`);
    }
  }
}

export interface ShardRound {
  shard: string;
  oldMaster: string;
  newMaster: string;
  epochBefore: number | null;
  /** Config-epoch when the failover was found complete. */
  epochAfter: number | null;
  /** The new master answered the completion write with NOREPLICAS (it was left without replicas). */
  writesRefused: boolean;
  /** ms from the kill until every completion condition held. */
  completedMs: number;
  write: ProbeReport;
  read: ProbeReport | null;
  agent: AgentTimings | null;
  /** With several proxies: when each one's writes to this shard landed on the new master. */
  proxies?: ProxyFollow[];
}

/** A shard found failed over, before the probes stop. */
export interface FailedOver {
  shard: string;
  newMaster: string;
  writesRefused: boolean;
}

export interface RoundResult {
  killed: Killed[];
  /** performance.now() and wall-clock time of the kill. */
  at: number;
  wallAt: number;
  shards: ShardRound[];
  /** Writers on the shards nothing was killed in: what the proxy's restart costs everyone else. */
  bystanders: ProbeReport[];
}

export interface RoundOptions {
  /** Per-shard probe keys (probeKeys()). */
  keys: Record<string, string>;
  /** Run a reader next to each writer (default true). */
  readers?: boolean;
  /** Also run a writer on every shard whose master is not killed (default true). */
  bystanders?: boolean;
  /** How long a failover may take before the round fails (default 30 s). */
  timeoutMs?: number;
  /** Keep measuring this long after writes resumed, to catch a second outage (default 1000 ms). */
  tailMs?: number;
  /**
   * Runs once the failovers are complete, while the probes still run: checking data, restarting the killed
   * instances and waiting until the stack is healthy. Measuring through it means an outage the kill causes
   * later (a second, spurious failover; a shard refusing writes until a replica is back) is in the figures.
   * The probes then wait for writes to resume after it.
   */
  afterFailover?: (done: FailedOver[]) => Promise<void>;
  /** Called about every 500 ms while waiting for the failovers (progress dots). */
  tick?: () => void;
  /** ms per-command timeout of the probes (default 200). */
  probeTimeoutMs?: number;
}

/**
 * Kills `kill` at once and returns, per shard whose master was among them, the new master and what a client
 * saw. Conditions for "complete", per shard: a majority of sentinels names a master that is not the killed one,
 * ROLE on it says master, the proxy config points at it, and a write through the proxy to a key of the shard
 * succeeds (or, when the shard has fewer live replicas than min-replicas-to-write, is refused with NOREPLICAS:
 * the new master answers, and refusing is the documented choice).
 */
export async function killRound(topo: Topology, password: string | null, kill: string[], opts: RoundOptions): Promise<RoundResult> {
  const before = await sentinelView(topo, password);
  const failing = topo.shards.filter((s) => kill.includes(before[s.name]?.master ?? ''));
  if (failing.length === 0) throw new CheckFailedError(`none of ${kill.join(', ')} is a shard's master according to the sentinels`);
  for (const a of kill) if (!shardOfAddr(topo, a)) throw new CheckFailedError(`${a} is not an instance of any shard`);
  const offset = eventsOffset(topo);

  const writers = new Map<string, ClientProbe>();
  const readers = new Map<string, ClientProbe>();
  const probe = (shard: string, op: 'write' | 'read') =>
    proxyProbe({ proxy: topo.proxy.listen, password, key: opts.keys[shard]!, op, name: `${op}s ${shard}`, timeoutMs: opts.probeTimeoutMs ?? 200 });
  for (const s of failing) {
    writers.set(s.name, probe(s.name, 'write'));
    if (opts.readers !== false) readers.set(s.name, probe(s.name, 'read'));
  }
  const bystanders = opts.bystanders === false ? [] : topo.shards.filter((s) => !failing.includes(s)).map((s) =>
    proxyProbe({ proxy: topo.proxy.listen, password, key: opts.keys[s.name]!, op: 'write', name: `writes ${s.name} (no kill in this shard)`, timeoutMs: opts.probeTimeoutMs ?? 200 }),
  );
  const all = [...writers.values(), ...readers.values(), ...bystanders];
  let stopped = false;
  const stopAll = async () => {
    if (stopped) return [];
    stopped = true;
    return Promise.all(all.map((p) => p.stop()));
  };
  try {
    for (const p of all) p.start();
    const t0 = performance.now();
    for (const p of all) {
      if (!(await p.waitSuccessAfter(t0, 5000))) throw new CheckFailedError(`${p.name} through the proxy fail before anything was killed`);
    }

    const { killed, at, wallAt } = await killInstances(topo, kill);
    for (const p of all) p.markReference(at);

    let ticker: NodeJS.Timeout | null = opts.tick ? setInterval(opts.tick, 500) : null;
    // Several proxies: each must follow on its own (each has its own agent); watched from the kill on.
    const several = allProxies(topo).length > 1;
    const stopFollows = new AbortController();
    const follows = several
      ? Promise.all(failing.map((s) => waitProxiesFollow(topo, password, s.name, before[s.name]!.master!, at, opts.timeoutMs ?? 30_000, { noreplicasCounts: refusesWrites(topo, s.name, kill), signal: stopFollows.signal })))
      : Promise.resolve(null);
    follows.catch(() => undefined); // awaited below; a rejection before then must not go unhandled
    const done = await Promise.all(
      failing.map((s) => waitShardFailedOver(topo, password, s.name, before[s.name]!.master!, opts.keys[s.name]!, kill, at, opts.timeoutMs ?? 30_000)),
    ).catch((e: unknown) => {
      stopFollows.abort();
      throw e;
    }).finally(() => {
      if (ticker) clearInterval(ticker);
      ticker = null;
    });
    // And every proxy ends on the master the sentinels elected (after a leader crash it may not be the first one promoted).
    const confirm = async () => {
      const r = await follows;
      if (r !== null) {
        await Promise.all(failing.map((s, i) => waitProxiesFollow(topo, password, s.name, before[s.name]!.master!, at, opts.timeoutMs ?? 30_000, { onto: done[i]!.newMaster, noreplicasCounts: refusesWrites(topo, s.name, kill) })));
      }
      return r;
    };
    const followed = await confirm().finally(() => Promise.all(several ? failing.map((s) => clearFollowKeys(topo, password, s.name)) : []));

    if (opts.afterFailover) await opts.afterFailover(failing.map((s, i) => ({ shard: s.name, newMaster: done[i]!.newMaster, writesRefused: done[i]!.writesRefused })));
    const resumeWait = opts.afterFailover ? 60_000 : 30_000;
    await Promise.all(
      failing.map(async (s, i) => {
        // A shard left refusing writes resumes only after afterFailover (if any) brought a replica back.
        if (done[i]!.writesRefused && !opts.afterFailover) return;
        await writers.get(s.name)!.waitSuccessAfter(at, resumeWait);
        await readers.get(s.name)?.waitSuccessAfter(at, resumeWait);
      }),
    );
    // A bounded measuring window: a second outage (a spurious failover, a second proxy restart) would show here.
    await delay(opts.tailMs ?? 1000);
    const reports = await stopAll();
    const byName = new Map(reports.map((r) => [r.name, r]));

    // The agent writes its timing record at the first +switch-master or at its apply, whichever is later.
    const timings = new Map<string, AgentTimings | null>();
    await waitFor(
      () => {
        for (const [i, s] of failing.entries()) timings.set(s.name, agentTimings(topo, offset, s.name, done[i]!.newMaster));
        return [...timings.values()].every((t) => t !== null);
      },
      { timeoutMs: 3000, intervalMs: 50, what: 'the agent timing records' },
    ).catch(() => undefined);

    return {
      killed,
      at,
      wallAt,
      shards: failing.map((s, i) => ({
        shard: s.name,
        oldMaster: before[s.name]!.master!,
        newMaster: done[i]!.newMaster,
        epochBefore: before[s.name]!.configEpoch,
        epochAfter: done[i]!.epoch,
        writesRefused: done[i]!.writesRefused,
        completedMs: Math.round(done[i]!.at - at),
        write: byName.get(`writes ${s.name}`)!,
        read: byName.get(`reads ${s.name}`) ?? null,
        agent: timings.get(s.name) ?? null,
        ...(followed ? { proxies: followed[i]! } : {}),
      })),
      bystanders: bystanders.map((b) => byName.get(b.name)!),
    };
  } finally {
    await stopAll();
  }
}

/** The shard is left with fewer live replicas than min-replicas-to-write: its new master refuses writes. */
function refusesWrites(topo: Topology, shardName: string, killed: string[]): boolean {
  const shard = topo.shards.find((s) => s.name === shardName)!;
  return shard.instances.filter((i) => !killed.includes(i)).length - 1 < topo.redis.minReplicasToWrite;
}

interface Done {
  newMaster: string;
  epoch: number | null;
  writesRefused: boolean;
  at: number;
}

async function waitShardFailedOver(
  topo: Topology,
  password: string | null,
  shardName: string,
  oldMaster: string,
  key: string,
  killed: string[],
  killedAt: number,
  timeoutMs: number,
): Promise<Done> {
  const refusalExpected = refusesWrites(topo, shardName, killed);
  // The first proxy's config is read where it runs; with several proxies it may be another host's (each proxy's
  // writes are checked by waitProxiesFollow then).
  const configKnown = allProxies(topo).length === 1 || localParts(topo).proxies.some((p) => p.index === topo.proxyIndex);
  let last = '';
  try {
    return await waitFor(
      async (): Promise<Done | false> => {
        const v = (await sentinelView(topo, password, 300))[shardName]!;
        if (v.master === null || v.master === oldMaster) {
          last = `a majority of sentinels to name a new master (${describeAnswers(v)})`;
          return false;
        }
        const role = await roleOf(v.master, password);
        if (!('role' in role) || role.role !== 'master') {
          last = `ROLE on ${v.master} to say master (${'role' in role ? role.role : role.error})`;
          return false;
        }
        const proxyTo = configKnown ? (await proxyServers(topo))[shardName] : v.master;
        if (proxyTo !== v.master) {
          last = `the proxy config to point ${shardName} at ${v.master} (it says ${proxyTo ?? 'nothing'})`;
          return false;
        }
        try {
          await withClient(topo.proxy.listen, password, (c) => c.set(key, 'failover-check'), { timeoutMs: 500 });
          return { newMaster: v.master, epoch: v.configEpoch, writesRefused: false, at: performance.now() };
        } catch (e) {
          const msg = (e as Error).message;
          if (refusalExpected && msg.startsWith('NOREPLICAS')) return { newMaster: v.master, epoch: v.configEpoch, writesRefused: true, at: performance.now() };
          last = `a write through the proxy to ${shardName} to succeed (${msg})`;
          return false;
        }
      },
      { timeoutMs, intervalMs: 50, what: `${shardName} to fail over from ${oldMaster}` },
    );
  } catch (e) {
    throw new TransientError(
      `${shardName}: no completed failover ${Math.round((performance.now() - killedAt) / 1000)} s after killing ${killed.join(', ')}; still waiting for ${last}`,
      { cause: e },
    );
  }
}
