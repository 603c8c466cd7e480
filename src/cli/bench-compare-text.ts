/** Text for `bench failover --compare`: a progress line per event, then the side-by-side table. */
import { median } from '../ops/bench-failover.js';
import type { CompareEvent, CompareMode, CompareResult } from '../ops/bench-compare.js';
import { formatMs } from './failover-text.js';

export function compareEventLine(e: CompareEvent): string {
  switch (e.kind) {
    case 'start':
      return `bench failover --compare: ${e.runs} kill -9 of ${e.shard}'s master per mode; machine: ${e.machine.cpu}, ${e.machine.cores} cores`;
    case 'mode-up':
      return `\n[${e.mode}] up (state ${e.stateDir})`;
    case 'run': {
      const r = e.result;
      const serving = r.promotedToServingMs === null ? 'n/a' : `${Math.round(r.promotedToServingMs)} ms`;
      return (
        `[${e.mode}] run ${e.run}: ${e.shard} write gap ${formatMs(r.writeGapMs)}; ${e.other} raw client: ${r.other.dropped} dropped, ${r.other.errors} errors, ` +
        `longest stall ${formatMs(r.other.longestStallMs)}; promotion seen -> serving ${serving}`
      );
    }
    case 'throughput':
      return `[${e.mode}] redis-benchmark -t set,get -c 50 -P 16 -n ${e.requests}, through the proxy and on ${e.shard}'s master directly`;
  }
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
