/**
 * `bench failover`: kill -9 one shard's master N times, with a writer on that shard through the proxy, and
 * report per run and overall the write unavailability a client sees and the agent's reaction time.
 * Between runs the killed instance is restarted (it rejoins as a replica) and the stack must be healthy again.
 */
import { cpus } from 'node:os';
import { InvalidInputError, TransientError } from '../errors.js';
import { localParts, upOutOfProcess, waitFor } from '../runtime/index.js';
import { readPassword, type Topology } from '../topology/index.js';
import { formatMs, OUTAGE_MS, type ProbeReport } from './client-probe.js';
import { sentinelView, SwitchWatch, unhealthyReason, type AgentTimings } from './failover-observe.js';
import { checkProbeKeys, killRound, probeKeys } from './failover-round.js';

export interface BenchFailoverOptions {
  runs: number;
  /** Shard whose master is killed (default: the first). */
  shard?: string;
  out?: (line: string) => void;
  /** Per-run limit for the failover to complete (default 30 s). */
  timeoutMs?: number;
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
  const out = opts.out ?? (() => {});
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
  out(`bench failover: ${opts.runs} runs, kill -9 of ${shard.name}'s master, writer = single SETs through the proxy ${topo.proxy.listen} (200 ms timeout, fresh connection on failure)`);
  out(`machine: ${m.cpu}, ${m.cores} cores; sentinel down-after ${topo.sentinel.downAfterMilliseconds} ms; min-replicas-to-write ${topo.redis.minReplicasToWrite}`);
  out('');
  const columns: Array<[string, number]> = [
    ['run', 3], ['killed', 15], ['new master', 15], ['write gap', 9], ['outages', 7], ['NOREPLICAS', 24], ['complete', 8], ['failovers', 9],
    ['agent path', 10], ['agent reaction', 14], ['+odown->serving', 15], ['other shards', 12],
  ];
  const printRow = (cells: string[]) => out(cells.map((c, i) => c.padEnd(columns[i]![1])).join('  ').trimEnd());
  printRow(columns.map(([h]) => h));
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
      };
      runs.push(one);
      const row = [
        String(run),
        master,
        s.newMaster,
        formatMs(one.writeGapMs),
        s.write.outages > 1 ? `${s.write.outages}: ${formatMs(s.write.outageMs)}` : String(s.write.outages),
        one.noreplicas ? `${one.noreplicas} (${fmtSpan(s.write.failures.noreplicas!.firstMs, s.write.failures.noreplicas!.lastMs)})` : '0',
        formatMs(one.completedMs),
        String(failovers),
        s.agent?.path ?? 'n/a',
        s.agent?.servingMs != null ? `${Math.round(s.agent.servingMs)} ms` : 'n/a',
        s.agent?.odownToServingMs != null ? `${Math.round(s.agent.odownToServingMs)} ms` : 'n/a',
        one.othersGapMs === null ? 'n/a' : formatMs(one.othersGapMs),
      ];
      printRow(row);
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
  };
  out('');
  out(`write gap: longest stretch without a successful SET; outages: stretches of ${OUTAGE_MS} ms or more (and their total when several); NOREPLICAS: refusals by the new master while it had no replica yet (count, when);`);
  out('complete: kill -> sentinel majority names the new master, ROLE says master, the proxy config points at it, a write through the proxy succeeds;');
  out('agent reaction: proxy accepting connections on the new config, relative to the first +switch-master any sentinel published (negative: before it);');
  out('other shards: longest write gap on the shards nothing was killed in (the proxy restart drops every client connection).');
  out('');
  out(`write unavailability: median ${formatMs(summary.writeGapMs.median)}, max ${formatMs(summary.writeGapMs.max)} over ${runs.length} runs`);
  out(
    summary.agentServingMs
      ? `agent reaction (first +switch-master -> proxy accepting connections on the new config; negative = before it): median ${Math.round(summary.agentServingMs.median)} ms, max ${Math.round(summary.agentServingMs.max)} ms (${serving.length} of ${runs.length} runs recorded)`
      : 'agent reaction: no failover-timings records in the agent events file',
  );
  out(`kill -> failover complete: median ${formatMs(summary.completedMs.median)}, max ${formatMs(summary.completedMs.max)}`);
  const extra = runs.filter((r) => r.failovers !== 1);
  if (extra.length > 0) {
    // A finding, not a failure of the benchmark: the figures above include the outage it caused.
    out(
      `${extra.length} of ${runs.length} runs saw more than one failover for one kill (runs ${extra.map((r) => `${r.run}: ${r.failovers}`).join(', ')}): ` +
        'the sentinels failed over the newly promoted master as well; see docs/failover.md',
    );
  }
  return { machine: m, shard: shard.name, runs, summary };
}

function fmtSpan(a: number, b: number): string {
  return `+${(a / 1000).toFixed(2)}..+${(b / 1000).toFixed(2)} s`;
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
