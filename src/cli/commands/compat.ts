import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CheckFailedError, InvalidInputError } from '../../errors.js';
import { compatReport, type CompatReport } from '../../ops/compat/index.js';
import { renderTable } from '../table.js';
import { topologyFrom } from '../options.js';

export function register(program: Command): void {
  program
    .command('compat')
    .description('which commands the proxy accepts, from a file of redis-cli commands or MONITOR output, and why not (exit 4 when any would fail)')
    .argument('[file]', 'commands, one per line (redis-cli syntax), or captured MONITOR output; "-" or nothing: stdin', '-')
    .option('--json', 'print one JSON document')
    .action(async (file: string, flags: { json?: boolean }, cmd: Command) => {
      const source = file === '-' ? 'stdin' : file;
      let data: Buffer;
      try {
        data = file === '-' ? await readStdin() : readFileSync(file);
      } catch (e) {
        throw new InvalidInputError(`${file}: cannot read: ${(e as Error).message}`, { cause: e });
      }
      const r = compatReport(topologyFrom(cmd), source, data);
      process.stdout.write(flags.json ? `${JSON.stringify(r, null, 2)}\n` : renderCompat(r));
      if (r.failing > 0) throw new CheckFailedError(`${r.failing} of ${r.calls} calls would fail through the proxy`);
    });
}

async function readStdin(): Promise<Buffer> {
  if (process.stdin.isTTY) throw new InvalidInputError('compat: give a FILE, or pipe commands into stdin (one per line)');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function renderCompat(r: CompatReport & { ring: string }): string {
  const out: string[] = [];
  out.push(
    `${r.source}: ${r.calls} call${r.calls === 1 ? '' : 's'} of ${r.commands.length} command${r.commands.length === 1 ? '' : 's'} (${r.format === 'monitor' ? 'MONITOR output' : 'redis-cli syntax'}); multi-key calls placed on ${r.ring}`,
  );
  const n = (v: number | undefined) => (v ? String(v) : '');
  out.push(
    renderTable(
      ['command', 'calls', 'ok', 'split', 'same shard', 'cross-shard', 'closes', ''],
      r.commands.map((c) => [c.name, String(c.calls), n(c.verdicts.ok), n(c.verdicts.split), n(c.verdicts['same-shard']), n(c.verdicts['cross-shard']), n(c.verdicts.closes), c.status === 'ok' ? '' : c.status.toUpperCase()]),
      { align: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'left'] },
    ),
  );
  for (const [status, title] of [['fail', 'Would fail through the proxy:'], ['warn', 'Works, with a condition:']] as const) {
    const list = r.commands.filter((c) => c.status === status);
    if (list.length === 0) continue;
    out.push('', title);
    for (const c of list) {
      const lines = c.failingLines.length > 0 ? ` (line${c.failingLines.length === 1 ? '' : 's'} ${c.failingLines.join(', ')}${(c.verdicts.closes ?? 0) + (c.verdicts['cross-shard'] ?? 0) > c.failingLines.length ? ', ...' : ''})` : '';
      out.push(`  ${c.name}${lines}: ${c.why}`);
      if (c.fix) out.push(`    fix: ${c.fix}`);
    }
  }
  if (r.unreadable.length > 0) {
    out.push('', `Unreadable lines (skipped): ${r.unreadable.length}`);
    for (const u of r.unreadable.slice(0, 5)) out.push(`  line ${u.line}: ${u.error}: ${u.text}`);
  }
  if (r.luaLines > 0) out.push('', `${r.luaLines} MONITOR line${r.luaLines === 1 ? '' : 's'} from inside scripts skipped (they never pass through the proxy)`);
  const c = r.counts;
  out.push(
    '',
    `${r.calls} calls: ${c.ok} ok, ${c.split} split per key, ${c['same-shard']} on one shard by their keys, ${c['cross-shard']} cross-shard, ${c.closes} close the connection -> ${r.failing === 0 ? 'all would work' : `${r.failing} would fail`}`,
  );
  if (r.failing > 0 || r.commands.some((x) => x.status === 'warn')) out.push('Client settings and the hash_tag fix: docs/clients.md');
  return `${out.join('\n')}\n`;
}
