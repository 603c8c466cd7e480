import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { CheckFailedError, InvalidInputError } from '../../errors.js';
import { checkData, clearData, DEFAULT_PREFIX, lastLoad, loadData, type DataCheck } from '../../ops/data.js';
import { ringForTopology } from '../../ops/locate.js';
import { formatPercent, renderTable } from '../table.js';
import type { Topology } from '../../topology/index.js';
import { intOption, topologyFrom } from '../options.js';

interface DataFlags {
  count: number;
  prefix: string;
  json?: boolean;
}

/** Runs longer than this many keys get a progress bar (when stdout is a terminal). */
const PROGRESS_ABOVE = 5000;

function prefixOption(value: string): string {
  if (value === '') throw new InvalidInputError('--prefix: must not be empty');
  return value;
}

export function register(program: Command): void {
  const data = program
    .command('data')
    .description('load, check and clear test keys through the proxy (the original loadData/checkData)');
  const common = (c: Command) =>
    c
      .option('-n, --count <n>', 'how many keys', intOption('--count', 1, 100_000_000), 1000)
      .option('--prefix <text>', 'key prefix; keys are <prefix>0 .. <prefix><count-1>', prefixOption, DEFAULT_PREFIX);

  common(data.command('load').description('SET the keys through the proxy, pipelined; each value is derived from its key')).action(
    async (flags: DataFlags, cmd: Command) => {
      const topo = topologyFrom(cmd);
      const r = await withProgress(flags.count, 'load', (onProgress) => loadData(topo, { count: flags.count, prefix: flags.prefix, onProgress }));
      const rate = r.ms > 0 ? ` (${Math.round((r.loaded * 1000) / r.ms).toLocaleString('en-US')} keys/s)` : '';
      process.stdout.write(`loaded ${r.loaded} keys ${flags.prefix}0..${flags.prefix}${flags.count - 1} through ${topo.proxy.listen} in ${r.ms} ms${rate}\n`);
    },
  );

  common(
    data
      .command('check')
      .description('read every key back through the proxy and find each on the shard masters; exit 4 on any loss or misplaced key')
      .option('--json', 'print one JSON document'),
  ).action(async (flags: DataFlags, cmd: Command) => {
    const topo = topologyFrom(cmd);
    const count = countFor(topo, flags, cmd);
    const r = await withProgress(count, 'check', (onProgress) => checkData(topo, { count, prefix: flags.prefix, onProgress }));
    process.stdout.write(flags.json ? `${JSON.stringify(r, null, 2)}\n` : `${checkText(topo, r)}\n`);
    if (!r.ok) throw new CheckFailedError(`data check failed: ${failureSummary(r)}`);
  });

  common(data.command('clear').description('DEL the keys through the proxy, and any copy left on a shard master')).action(
    async (flags: DataFlags, cmd: Command) => {
      const topo = topologyFrom(cmd);
      const count = countFor(topo, flags, cmd);
      const r = await withProgress(count, 'clear', (onProgress) => clearData(topo, { count, prefix: flags.prefix, onProgress }));
      process.stdout.write(`deleted ${r.deleted} keys through the proxy${r.strays ? `, and ${r.strays} copies left on shard masters` : ''}\n`);
    },
  );
}

/**
 * --count when given; else the count the last `data load` of this prefix used (said on stderr, so a script
 * reading stdout sees the same report); else the default.
 */
function countFor(topo: Topology, flags: DataFlags, cmd: Command): number {
  if (cmd.getOptionValueSource('count') !== 'default') return flags.count;
  const last = lastLoad(topo, flags.prefix);
  if (last === null) return flags.count;
  process.stderr.write(`--count ${last.count}: the count of the last data load of ${flags.prefix} here (${last.at}); give --count to choose another\n`);
  return last.count;
}

async function withProgress<T>(total: number, label: string, run: (onProgress?: (done: number) => void) => Promise<T>): Promise<T> {
  if (total <= PROGRESS_ABOVE || !process.stdout.isTTY) return run();
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {percentage}% | {value}/{total} keys | {eta}s left`, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  try {
    return await run((done) => bar.update(done));
  } finally {
    bar.stop();
  }
}

function failureSummary(r: DataCheck): string {
  const parts: string[] = [];
  if (r.missing) parts.push(`${r.missing} missing`);
  if (r.wrong) parts.push(`${r.wrong} with a wrong value`);
  if (r.errors) parts.push(`${r.errors} unreadable through the proxy`);
  if (r.misplaced) parts.push(`${r.misplaced} on a shard the ring does not predict`);
  if (r.onSeveralShards) parts.push(`${r.onSeveralShards} on more than one shard`);
  const unreachable = r.perShard.filter((s) => !s.reachable);
  if (unreachable.length) parts.push(`master${unreachable.length > 1 ? 's' : ''} not reachable: ${unreachable.map((s) => `${s.name} ${s.master}`).join(', ')}`);
  return `${parts.join(', ')} (of ${r.count})`;
}

function checkText(topo: Topology, r: DataCheck): string {
  const out: string[] = [];
  out.push(`read ${r.count} keys through ${topo.proxy.listen}: ${r.present} present, ${r.missing} missing, ${r.wrong} wrong${r.errors ? `, ${r.errors} errors` : ''}`);
  let predicted: number[] | null = null;
  try {
    predicted = ringForTopology(topo).share();
  } catch {
    predicted = null;
  }
  const found = r.perShard.reduce((n, s) => n + s.keys, 0);
  out.push(
    renderTable(
      ['shard', 'master', 'keys', 'share', 'ring predicts'],
      r.perShard.map((s, i) => [
        s.name,
        s.reachable ? s.master : `${s.master} (NOT REACHABLE)`,
        String(s.keys),
        found > 0 ? formatPercent(s.keys / found) : '-',
        predicted?.[i] !== undefined ? formatPercent(predicted[i]!) : '-',
      ]),
      { align: ['left', 'left', 'right', 'right', 'right'] },
    ),
  );
  out.push(
    r.misplaced === 0 && r.onSeveralShards === 0
      ? 'placement: every key found is on the shard the ring predicts, and on one shard only'
      : `placement: ${r.misplaced} keys on a shard the ring does not predict, ${r.onSeveralShards} on more than one shard`,
  );
  out.push(r.ok ? `Redis OK (${r.count} items all existed)` : `FAILED: ${failureSummary(r)}`);
  return out.join('\n');
}
