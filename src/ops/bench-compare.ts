/**
 * `bench failover --compare`: the same failovers in apply mode supervise (nutcracker restarted) and haproxy
 * (HAProxy's backend switched), one mode after the other on the description's own ports, each on a fresh state
 * dir of its own. Per mode: the failing shard's write gap, what a client without retries on another shard sees
 * (connections dropped, longest stall), the agent's promotion-seen -> serving, and proxy/direct throughput.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { EnvironmentError, InvalidInputError } from '../errors.js';
import { canBind, down, localParts, upOutOfProcess } from '../runtime/index.js';
import { DEFAULT_DESCRIPTION, loadTopology, mustParseAddress, readPassword, type ApplyMode, type Topology } from '../topology/index.js';
import { machine, waitHealthy } from './bench-failover.js';
import { runThroughputBench } from './bench-throughput.js';
import { sentinelView } from './failover-observe.js';
import { keyForShard, killRound, probeKeys } from './failover-round.js';
import { RawWriter, type RawClientReport } from './raw-client.js';


export const COMPARED_MODES: readonly ApplyMode[] = ['supervise', 'haproxy'];

export interface CompareRun {
  writeGapMs: number;
  other: RawClientReport;
  promotedToServingMs: number | null;
}

export interface CompareMode {
  mode: ApplyMode;
  runs: CompareRun[];
  throughput: { set: { proxy: number | null; direct: number | null }; get: { proxy: number | null; direct: number | null } };
}

export interface CompareResult {
  machine: { cpu: string; cores: number };
  runs: number;
  shard: string;
  other: string;
  modes: CompareMode[];
}

/** What happens, as it happens; cli/ turns each into a progress line. */
export type CompareEvent =
  | { kind: 'start'; runs: number; shard: string; machine: { cpu: string; cores: number } }
  | { kind: 'mode-up'; mode: ApplyMode; stateDir: string }
  | { kind: 'run'; mode: ApplyMode; run: number; shard: string; other: string; result: CompareRun }
  | { kind: 'throughput'; mode: ApplyMode; requests: number; shard: string };

export interface CompareOptions {
  runs: number;
  onEvent?: (e: CompareEvent) => void;
  timeoutMs?: number;
  /** redis-benchmark requests per test for the throughput part (0: skip it). */
  requests?: number;
}

/** The description as an object, with this mode and a state dir of its own; written beside the original. */
function modeDescription(topo: Topology, mode: ApplyMode): { file: string; topo: Topology } {
  const raw = (topo.file ? parse(readFileSync(topo.file, 'utf8')) : structuredClone(DEFAULT_DESCRIPTION)) as Record<string, unknown>;
  const dir = topo.file ? dirname(topo.file) : process.cwd();
  const agent: Record<string, unknown> = { ...((raw.agent as Record<string, unknown> | undefined) ?? {}), apply: mode };
  delete agent.exec;
  delete agent.stagingFile;
  const desc = { ...raw, agent, stateDir: `${topo.stateDir}-compare-${mode}` };
  const file = resolve(dir, `.redis-shard-compare-${mode}.yml`);
  writeFileSync(file, stringify(desc));
  return { file, topo: loadTopology({ config: file }) };
}

async function portsInUse(topo: Topology): Promise<string[]> {
  const addrs = [
    ...topo.shards.flatMap((s) => s.instances),
    ...topo.sentinel.instances,
    topo.proxy.listen,
    topo.proxy.stats,
    ...Object.values(topo.haproxyFrontends),
  ];
  const busy: string[] = [];
  for (const a of addrs) {
    const { host, port } = mustParseAddress(a);
    if (!(await canBind(host, port))) busy.push(a);
  }
  return busy;
}

export async function benchCompareModes(topo: Topology, opts: CompareOptions): Promise<CompareResult> {
  const emit = opts.onEvent ?? (() => {});
  const all = localParts(topo);
  const notLocal = topo.shards.flatMap((s) => s.instances).filter((a) => !all.redis.includes(a));
  if (notLocal.length > 0 || !all.proxy) throw new InvalidInputError('bench failover --compare starts whole stacks: every part of the description must run on this host');
  if (topo.shards.length < 2) throw new InvalidInputError('bench failover --compare needs two shards: one fails, a client writes to the other');
  const busy = await portsInUse(topo);
  if (busy.length > 0) {
    throw new EnvironmentError(
      `bench failover --compare starts its own stacks on the description's ports, and ${busy.join(', ')} ${busy.length > 1 ? 'are' : 'is'} in use; ` +
        'stop the deployment (redis-shard down) or give a description on free ports with -c FILE; nothing was started',
    );
  }
  const m = machine();
  const shard = topo.shards[0]!.name;
  const other = topo.shards[1]!.name;
  emit({ kind: 'start', runs: opts.runs, shard, machine: m });
  const modes: CompareMode[] = [];
  for (const mode of COMPARED_MODES) {
    const { file, topo: t } = modeDescription(topo, mode);
    const password = readPassword(t);
    emit({ kind: 'mode-up', mode, stateDir: t.stateDir });
    try {
      await upOutOfProcess(t, 90);
      await waitHealthy(t, password, 60_000, 'after up');
      const runs: CompareRun[] = [];
      const keys = probeKeys(t, 'redis-shard:bench-compare:');
      for (let run = 1; run <= opts.runs; run++) {
        await waitHealthy(t, password, 60_000, `before run ${run}`);
        const master = (await sentinelView(t, password))[shard]!.master!;
        const raw = new RawWriter(t.proxy.listen, keyForShard(t, 1, 'redis-shard:bench-compare:raw:'), password);
        await raw.start();
        let rawReport: RawClientReport | null = null;
        const r = await killRound(t, password, [master], {
          keys,
          readers: false,
          bystanders: false,
          timeoutMs: opts.timeoutMs ?? 30_000,
          tailMs: 500,
          afterFailover: async () => {
            rawReport = await raw.stop();
            await upOutOfProcess(t);
            await waitHealthy(t, password, 60_000, `after run ${run}`);
          },
        }).finally(() => raw.stop());
        const s = r.shards[0]!;
        const one: CompareRun = { writeGapMs: s.write.longestGapMs, other: rawReport ?? (await raw.stop()), promotedToServingMs: s.agent?.promotedToServingMs ?? null };
        runs.push(one);
        emit({ kind: 'run', mode, run, shard, other, result: one });
      }
      let throughput: CompareMode['throughput'] = { set: { proxy: null, direct: null }, get: { proxy: null, direct: null } };
      if ((opts.requests ?? 100_000) > 0) {
        emit({ kind: 'throughput', mode, requests: opts.requests ?? 100_000, shard });
        const b = await runThroughputBench(t, { requests: opts.requests ?? 100_000, clients: 50, pipeline: 16, tests: 'set,get' });
        const row = (name: string) => b.rows.find((x) => x.name === name);
        const pick = (name: string) => ({ proxy: row(name)?.proxy ?? null, direct: row(name)?.direct[0] ?? null });
        throughput = { set: pick('SET'), get: pick('GET') };
      }
      modes.push({ mode, runs, throughput });
    } finally {
      await down(t).catch(() => undefined);
      rmSync(t.stateDir, { recursive: true, force: true });
      rmSync(file, { force: true });
    }
  }
  return { machine: m, runs: opts.runs, shard, other, modes };
}
