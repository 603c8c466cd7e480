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
import { machine, median, waitHealthy } from './bench-failover.js';
import { runThroughputBench } from './bench-throughput.js';
import { sentinelView } from './failover-observe.js';
import { keyForShard, killRound, probeKeys } from './failover-round.js';
import { RawWriter, type RawClientReport } from './raw-client.js';


/** "1.62 s" / "85 ms" (progress lines). */
function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

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

export interface CompareOptions {
  runs: number;
  out?: (line: string) => void;
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
  const out = opts.out ?? (() => {});
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
  out(`bench failover --compare: ${opts.runs} kill -9 of ${shard}'s master per mode; machine: ${m.cpu}, ${m.cores} cores`);
  const modes: CompareMode[] = [];
  for (const mode of COMPARED_MODES) {
    const { file, topo: t } = modeDescription(topo, mode);
    const password = readPassword(t);
    out(`\n[${mode}] up (state ${t.stateDir})`);
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
        out(
          `[${mode}] run ${run}: ${shard} write gap ${formatMs(one.writeGapMs)}; ${other} raw client: ${one.other.dropped} dropped, ${one.other.errors} errors, ` +
            `longest stall ${formatMs(one.other.longestStallMs)}; promotion seen -> serving ${one.promotedToServingMs === null ? 'n/a' : `${Math.round(one.promotedToServingMs)} ms`}`,
        );
      }
      let throughput: CompareMode['throughput'] = { set: { proxy: null, direct: null }, get: { proxy: null, direct: null } };
      if ((opts.requests ?? 100_000) > 0) {
        out(`[${mode}] redis-benchmark -t set,get -c 50 -P 16 -n ${opts.requests ?? 100_000}, through the proxy and on ${shard}'s master directly`);
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
  const result: CompareResult = { machine: m, runs: opts.runs, shard, other, modes };
  out('');
  out(compareTable(result));
  return result;
}

const rate = (v: number | null) => (v === null ? 'n/a' : `${Math.round(v / 1000)}k/s`);
const medMax = (xs: number[], f: (v: number) => string) => (xs.length === 0 ? 'n/a' : `${f(median(xs))} (max ${f(Math.max(...xs))})`);

/** The side-by-side table: one row per figure, one column per mode; medians over the runs, max in brackets. */
export function compareTable(r: CompareResult): string {
  const ms = (v: number) => `${Math.round(v)} ms`;
  const rows: Array<[string, (m: CompareMode) => string]> = [
    [`${r.shard} (killed) write gap, reconnecting client`, (m) => medMax(m.runs.map((x) => x.writeGapMs), ms)],
    [`${r.other} raw client without retries: connections dropped`, (m) => `${m.runs.reduce((a, x) => a + x.other.dropped, 0)} in ${m.runs.length} failovers`],
    [`${r.other} raw client: error replies`, (m) => `${m.runs.reduce((a, x) => a + x.other.errors, 0)}`],
    [`${r.other} raw client: longest stall`, (m) => medMax(m.runs.map((x) => x.other.longestStallMs), ms)],
    ['agent: promotion seen -> serving', (m) => medMax(m.runs.map((x) => x.promotedToServingMs).filter((v): v is number => v !== null), ms)],
    ['SET through the proxy / direct', (m) => `${rate(m.throughput.set.proxy)} / ${rate(m.throughput.set.direct)}`],
    ['GET through the proxy / direct', (m) => `${rate(m.throughput.get.proxy)} / ${rate(m.throughput.get.direct)}`],
  ];
  const head = ['', ...r.modes.map((m) => m.mode)];
  const body = rows.map(([label, f]) => [label, ...r.modes.map(f)]);
  const widths = head.map((_, i) => Math.max(...[head, ...body].map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}
