/**
 * `bench failover`: kill -9 one shard's master N times, with a writer on that shard through the proxy, and
 * report per run and overall the write unavailability a client sees and the agent's reaction time.
 * Between runs the killed instance is restarted (it rejoins as a replica) and the stack must be healthy again.
 */
import { cpus } from 'node:os';
import { InvalidInputError, TransientError } from '../errors.js';
import { localParts, upOutOfProcess, waitFor } from '../runtime/index.js';
import { readPassword, type Topology } from '../topology/index.js';
import type { ProbeReport } from './client-probe.js';
import { sentinelView, SwitchWatch, unhealthyReason, type AgentTimings } from './failover-observe.js';
import { checkProbeKeys, killRound, probeKeys } from './failover-round.js';
import type { ProxyFollow } from './failover-proxies.js';

export interface BenchFailoverOptions {
  runs: number;
  /** Shard whose master is killed (default: the first). */
  shard?: string;
  /** Called once the checks passed, before the first kill (the CLI prints its header then). */
  onStart?: (info: BenchFailoverStart) => void;
  /** Called after each run with its figures (the CLI prints its row). */
  onRun?: (run: BenchFailoverRun) => void;
  /** Per-run limit for the failover to complete (default 30 s). */
  timeoutMs?: number;
}

export interface BenchFailoverStart {
  runs: number;
  shard: string;
  proxy: string;
  machine: { cpu: string; cores: number };
  downAfterMs: number;
  minReplicasToWrite: number;
}

export interface BenchFailoverRun {
  run: number;
  killed: string;
  newMaster: string;
  /** Longest gap between successful writes (ms). */
  writeGapMs: number;
  /** Part of the gap's failures that were NOREPLICAS refusals (count). */
  noreplicas: number;
  /** ms from the kill until the completion conditions held. */
  completedMs: number;
  /** Failovers of the shard (+switch-master, by from -> to) seen from the kill until healthy again. */
  failovers: number;
  agent: AgentTimings | null;
  write: ProbeReport;
  /** Longest write gap on the other shards (their master was not killed; the proxy restart still drops their connections). */
  othersGapMs: number | null;
  /** With several proxies: kill -> a write through each one landed on the new master. */
  proxies?: ProxyFollow[];
}

export interface BenchFailoverResult {
  machine: { cpu: string; cores: number };
  shard: string;
  runs: BenchFailoverRun[];
  summary: {
    writeGapMs: { median: number; max: number };
    /** Agent: first +switch-master seen -> proxy accepting connections with the new config (negative: before it). */
    agentServingMs: { median: number; max: number } | null;
    completedMs: { median: number; max: number };
    /** With several proxies: per proxy, kill -> its writes land on the new master. */
    proxiesFollowMs?: Array<{ listen: string; median: number; max: number }>;
  };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function machine(): { cpu: string; cores: number } {
  const list = cpus();
  return { cpu: list[0]?.model.trim() ?? 'unknown', cores: list.length };
}

export async function benchFailover(topo: Topology, opts: BenchFailoverOptions): Promise<BenchFailoverResult> {
  const password = readPassword(topo);
  const shardIndex = opts.shard === undefined ? 0 : topo.shards.findIndex((s) => s.name === opts.shard);
  if (shardIndex < 0) throw new InvalidInputError(`--shard: no shard named "${opts.shard}" (shards: ${topo.shards.map((s) => s.name).join(', ')})`);
  const shard = topo.shards[shardIndex]!;
  const notLocal = shard.instances.filter((a) => !localParts(topo).redis.includes(a));
  if (notLocal.length > 0) throw new InvalidInputError(`bench failover kills instances by PID, so ${shard.name}'s instances must run on this host; ${notLocal.join(', ')} do not`);
  if (shard.instances.length < 2) throw new InvalidInputError(`${shard.name} has one instance: there is no replica to fail over to`);

  await waitHealthy(topo, password, 30_000, 'before the first run');
  const keys = probeKeys(topo, 'redis-shard:bench-failover:');
  const masters = Object.fromEntries(Object.entries(await sentinelView(topo, password)).map(([k, v]) => [k, v.master!]));
  await checkProbeKeys(topo, password, keys, masters);

  const m = machine();
  opts.onStart?.({
    runs: opts.runs,
    shard: shard.name,
    proxy: topo.proxy.listen,
    machine: m,
    downAfterMs: topo.sentinel.downAfterMilliseconds,
    minReplicasToWrite: topo.redis.minReplicasToWrite,
  });
  const watch = await SwitchWatch.start(topo, password);
  const runs: BenchFailoverRun[] = [];
  try {
    for (let run = 1; run <= opts.runs; run++) {
      await waitHealthy(topo, password, 60_000, `before run ${run}`);
      const master = (await sentinelView(topo, password))[shard.name]!.master!;
      const r = await killRound(topo, password, [master], {
        keys,
        readers: false,
        timeoutMs: opts.timeoutMs ?? 30_000,
        tailMs: 1000,
        // The writer keeps running while the killed instance is restarted and the stack heals, so an outage
        // the kill causes later (a second, spurious failover) is in the figure, not only the first one.
        afterFailover: async () => {
          await upOutOfProcess(topo);
          await waitHealthy(topo, password, 60_000, `after run ${run}`);
        },
      }).catch(async (e: unknown) => {
        // Leave the stack whole: bring the killed instance back before reporting the failure.
        await upOutOfProcess(topo).catch(() => undefined);
        throw e;
      });
      const s = r.shards[0]!;
      const failovers = watch.failovers(shard.name, r.at).length;
      const one: BenchFailoverRun = {
        run,
        killed: master,
        newMaster: s.newMaster,
        writeGapMs: s.write.longestGapMs,
        noreplicas: s.write.failures.noreplicas?.count ?? 0,
        completedMs: s.completedMs,
        failovers,
        agent: s.agent,
        write: s.write,
        othersGapMs: r.bystanders.length ? Math.max(...r.bystanders.map((b) => b.longestGapMs)) : null,
        ...(s.proxies ? { proxies: s.proxies } : {}),
      };
      runs.push(one);
      opts.onRun?.(one);
    }
  } finally {
    watch.stop();
  }

  const gaps = runs.map((r) => r.writeGapMs);
  const serving = runs.map((r) => r.agent?.servingMs).filter((v): v is number => typeof v === 'number');
  const completed = runs.map((r) => r.completedMs);
  const summary = {
    writeGapMs: { median: median(gaps), max: Math.max(...gaps) },
    agentServingMs: serving.length ? { median: median(serving), max: Math.max(...serving) } : null,
    completedMs: { median: median(completed), max: Math.max(...completed) },
    ...(runs[0]?.proxies ? { proxiesFollowMs: followSummary(runs) } : {}),
  };
  return { machine: m, shard: shard.name, runs, summary };
}

function followSummary(runs: BenchFailoverRun[]): Array<{ listen: string; median: number; max: number }> {
  return runs[0]!.proxies!.map(({ listen }) => {
    const ms = runs.map((r) => r.proxies?.find((p) => p.listen === listen)?.followedMs).filter((v): v is number => v !== undefined);
    return { listen, median: median(ms), max: Math.max(...ms) };
  });
}

export async function waitHealthy(topo: Topology, password: string | null, timeoutMs: number, when: string): Promise<void> {
  let last: string | null = null;
  await waitFor(
    async () => {
      last = await unhealthyReason(topo, password);
      return last === null;
    },
    { timeoutMs, intervalMs: 200, what: `the stack to be healthy ${when}` },
  ).catch((e) => {
    throw new TransientError(`the stack is not healthy ${when} after ${Math.round(timeoutMs / 1000)} s: ${last ?? (e as Error).message}`, { cause: e });
  });
}
