/** Text for `bench`: the throughput table and the failover benchmark's header, rows and summary. */
import { OUTAGE_MS } from '../ops/client-probe.js';
import type { BenchFailoverResult, BenchFailoverRun, BenchFailoverStart } from '../ops/bench-failover.js';
import type { ThroughputResult } from '../ops/bench-throughput.js';
import { formatMs } from './failover-text.js';
import { formatRate, renderTable } from './table.js';

/** One table: requests/s through the proxy, against each master, and the proxy/direct ratio. */
export function benchTable(r: ThroughputResult): string {
  const masters = r.targets.filter((t) => t.kind === 'master');
  const head = ['command', `proxy ${r.targets[0]!.addr}`, ...masters.map((m) => `${m.label} ${m.addr}`), 'proxy/direct'];
  const cell = (n: number | null) => (n === null ? '-' : formatRate(n));
  return renderTable(
    head,
    r.rows.map((row) => [row.name, cell(row.proxy), ...row.direct.map(cell), row.ratio === null ? '-' : row.ratio.toFixed(2)]),
    { align: ['left', ...head.slice(1).map(() => 'right' as const)] },
  );
}

const COLUMNS: Array<[string, number]> = [
  ['run', 3], ['killed', 15], ['new master', 15], ['write gap', 9], ['outages', 7], ['NOREPLICAS', 24], ['complete', 8], ['failovers', 9],
  ['agent path', 10], ['agent reaction', 14], ['+odown->serving', 15], ['other shards', 12],
];
const row = (cells: string[]) => `${cells.map((c, i) => c.padEnd(COLUMNS[i]![1])).join('  ').trimEnd()}\n`;

export function benchFailoverHeader(i: BenchFailoverStart): string {
  return (
    `bench failover: ${i.runs} runs, kill -9 of ${i.shard}'s master, writer = single SETs through the proxy ${i.proxy} (200 ms timeout, fresh connection on failure)\n` +
    `machine: ${i.machine.cpu}, ${i.machine.cores} cores; sentinel down-after ${i.downAfterMs} ms; min-replicas-to-write ${i.minReplicasToWrite}\n\n` +
    row(COLUMNS.map(([h]) => h))
  );
}

export function benchFailoverRow(one: BenchFailoverRun): string {
  const w = one.write;
  const nr = w.failures.noreplicas;
  const proxies = one.proxies ? `    every proxy followed: ${one.proxies.map((p) => `${p.listen} ${formatMs(p.followedMs)}`).join(', ')}\n` : '';
  return row([
    String(one.run),
    one.killed,
    one.newMaster,
    formatMs(one.writeGapMs),
    w.outages > 1 ? `${w.outages}: ${formatMs(w.outageMs)}` : String(w.outages),
    one.noreplicas && nr ? `${one.noreplicas} (${fmtSpan(nr.firstMs, nr.lastMs)})` : '0',
    formatMs(one.completedMs),
    String(one.failovers),
    one.agent?.path ?? 'n/a',
    one.agent?.servingMs != null ? `${Math.round(one.agent.servingMs)} ms` : 'n/a',
    one.agent?.odownToServingMs != null ? `${Math.round(one.agent.odownToServingMs)} ms` : 'n/a',
    one.othersGapMs === null ? 'n/a' : formatMs(one.othersGapMs),
  ]) + proxies;
}

export function benchFailoverSummary(r: BenchFailoverResult): string {
  const { runs, summary } = r;
  const serving = runs.filter((x) => typeof x.agent?.servingMs === 'number').length;
  const out = [
    '',
    `write gap: longest stretch without a successful SET; outages: stretches of ${OUTAGE_MS} ms or more (and their total when several); NOREPLICAS: refusals by the new master while it had no replica yet (count, when);`,
    'complete: kill -> sentinel majority names the new master, ROLE says master, the proxy config points at it, a write through the proxy succeeds;',
    'agent reaction: proxy accepting connections on the new config, relative to the first +switch-master any sentinel published (negative: before it);',
    'other shards: longest write gap on the shards nothing was killed in (the proxy restart drops every client connection).',
    '',
    `write unavailability: median ${formatMs(summary.writeGapMs.median)}, max ${formatMs(summary.writeGapMs.max)} over ${runs.length} runs`,
    summary.agentServingMs
      ? `agent reaction (first +switch-master -> proxy accepting connections on the new config; negative = before it): median ${Math.round(summary.agentServingMs.median)} ms, max ${Math.round(summary.agentServingMs.max)} ms (${serving} of ${runs.length} runs recorded)`
      : 'agent reaction: no failover-timings records in the agent events file',
    `kill -> failover complete: median ${formatMs(summary.completedMs.median)}, max ${formatMs(summary.completedMs.max)}`,
    ...(summary.proxiesFollowMs ?? []).map((p) => `proxy ${p.listen}: kill -> its writes on the new master: median ${formatMs(p.median)}, max ${formatMs(p.max)}`),
  ];
  const extra = runs.filter((x) => x.failovers !== 1);
  if (extra.length > 0) {
    // A finding, not a failure of the benchmark: the figures above include the outage it caused.
    out.push(
      `${extra.length} of ${runs.length} runs saw more than one failover for one kill (runs ${extra.map((x) => `${x.run}: ${x.failovers}`).join(', ')}): ` +
        'the sentinels failed over the newly promoted master as well; see docs/failover.md',
    );
  }
  return out.map((l) => `${l}\n`).join('');
}

function fmtSpan(a: number, b: number): string {
  return `+${(a / 1000).toFixed(2)}..+${(b / 1000).toFixed(2)} s`;
}
