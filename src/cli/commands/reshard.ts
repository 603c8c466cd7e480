import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { InvalidInputError } from '../../errors.js';
import type { ReshardEvent, ReshardPlan } from '../../reshard/index.js';
import { renderTable } from '../table.js';
import { intOption, topologyFrom } from '../options.js';

interface Flags {
  plan?: boolean;
  rate?: number;
  yes?: boolean;
  json?: boolean;
  resume?: boolean;
  abort?: boolean;
}

export function register(program: Command): void {
  program
    .command('reshard')
    .description('move keys online to the ring the description now gives (a shard added or removed, weights, hash, distribution, hash_tag)')
    .option('--plan', 'show what would move (counted on the live data) and change nothing')
    .option('--rate <keys-per-s>', 'copy at most this many keys per second (default: unthrottled)', intOption('--rate', 1, 100_000_000))
    .option('--yes', 'do not ask before starting')
    .option('--json', 'one JSON event per line instead of the progress bar')
    .option('--resume', 'continue a reshard that was interrupted, from its recorded phase')
    .option('--abort', 'undo a reshard that has not reached its commit (copies removed, an added shard stopped)')
    .action(async (flags: Flags, cmd: Command) => {
      const picked = ['plan', 'resume', 'abort'].filter((k) => flags[k as keyof Flags]);
      if (picked.length > 1) throw new InvalidInputError(`--${picked.join(' and --')}: give at most one`);
      const topo = topologyFrom(cmd);
      const ops = await import('../../ops/reshard.js');
      if (flags.plan) {
        const plan = await ops.reshardPlan(topo, flags.rate ?? null);
        process.stdout.write(flags.json ? `${JSON.stringify(planJson(plan))}\n` : planText(plan));
        return;
      }
      const printer = eventPrinter(flags.json === true);
      try {
        if (flags.resume) await ops.reshardResume(topo, printer.emit);
        else if (flags.abort) await ops.reshardAbort(topo, printer.emit);
        else {
          const r = await ops.reshardRun(topo, {
            rate: flags.rate ?? null,
            emit: printer.emit,
            confirm: async (plan) => {
              if (!flags.json) process.stdout.write(planText(plan));
              if (flags.yes) return true;
              if (!process.stdin.isTTY) throw new InvalidInputError('reshard: stdin is not a terminal, so nobody can confirm; pass --yes');
              const rl = createInterface({ input: process.stdin, output: process.stdout });
              const answer = await rl.question('start the reshard? [y/N] ');
              rl.close();
              return /^y(es)?$/i.test(answer.trim());
            },
          });
          if (r === null) process.stdout.write('nothing done\n');
        }
      } finally {
        printer.stop();
      }
    });
}

function planJson(p: ReshardPlan) {
  const { oldYml: _o, newYml: _n, ...rest } = p;
  return rest;
}

function mb(b: number): string {
  return `${(b / 1e6).toFixed(1)} MB`;
}

function planText(p: ReshardPlan): string {
  const c = p.change;
  const what = [
    ...c.added.map((a) => `add shard ${a}`),
    ...c.removed.map((r) => `remove shard ${r}`),
    ...c.settings,
  ];
  const rows = p.flows.map((f) => [f.from, f.to, String(f.keys), mb(f.bytes)]);
  const lines = [
    `change: ${what.length > 0 ? what.join('; ') : 'none (the description gives the ring the proxy serves)'}`,
    `scanned ${p.scannedKeys} keys; ${p.totalKeys} move (${p.scannedKeys ? ((100 * p.totalKeys) / p.scannedKeys).toFixed(1) : '0'}%), about ${mb(p.totalBytes)} (MEMORY USAGE on a sample)`,
    rows.length > 0 ? renderTable(['from', 'to', 'keys', 'bytes'], rows) : '',
    p.bigKeys.length > 0 ? `big keys (copied in pieces): ${p.bigKeys.slice(0, 20).map((b) => `${b.key} (${b.type}, ${b.shard})`).join(', ')}` : 'big keys: none over 1 MB in the sample',
    `cut: ${p.cutMode === 'pause' ? 'writes paused on the sources' : 'the proxy is stopped for the drain (a source is also a destination)'}`,
    `estimated copy time: ${p.estimatedSeconds} s at ${p.rateKeysPerSec !== null ? `${p.rateKeysPerSec} keys/s (--rate)` : 'an assumed 100000 keys/s (unthrottled; measured rates: docs/reshard.md)'}`,
  ];
  return `${lines.filter((l) => l !== '').join('\n')}\n`;
}

function eventPrinter(json: boolean): { emit: (e: ReshardEvent) => void; stop: () => void } {
  if (json) return { emit: (e) => process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), ...e })}\n`), stop: () => {} };
  let bar: cliProgress.SingleBar | null = null;
  let phase = '';
  const tty = process.stderr.isTTY === true;
  const stopBar = () => {
    bar?.stop();
    bar = null;
  };
  return {
    emit: (e) => {
      if (e.type === 'progress') {
        if (!tty) return;
        if (!bar) {
          bar = new cliProgress.SingleBar(
            { format: '{phase} [{bar}] {value}/{total} keys | {mb} MB | {rate} keys/s | dirty {dirty}', hideCursor: true, stream: process.stderr },
            cliProgress.Presets.shades_classic,
          );
          bar.start(Math.max(e.plannedKeys, e.keysCopied), 0, { phase, mb: '0', rate: 0, dirty: 0 });
        }
        bar.setTotal(Math.max(e.plannedKeys, e.keysCopied));
        bar.update(e.keysCopied, { phase: e.phase, mb: (e.bytesCopied / 1e6).toFixed(1), rate: e.keysPerSec, dirty: e.dirty });
        return;
      }
      stopBar();
      switch (e.type) {
        case 'phase':
          phase = e.phase;
          process.stdout.write(`epoch ${e.epoch}: ${e.phase}\n`);
          break;
        case 'cut':
          process.stdout.write(`cut: ${e.mode === 'pause' ? 'writes paused' : 'proxy stopped'} ${e.pauseMs} ms, ${e.drained} keys drained in it (attempt ${e.attempt})\n`);
          break;
        case 'cut-retry':
          process.stdout.write(`cut attempt ${e.attempt} given up: ${e.reason}; copying again\n`);
          break;
        case 'repass':
          process.stdout.write(`shard ${e.shard}: copying again from the start (${e.reason})\n`);
          break;
        case 'cleanup':
          process.stdout.write(`shard ${e.shard}: ${e.keysRemoved} old copies removed\n`);
          break;
        case 'shard-started':
          process.stdout.write(`shard ${e.shard}: up, monitored by the sentinels\n`);
          break;
        case 'shard-removed':
          process.stdout.write(`shard ${e.shard}: no longer monitored; stopped ${e.stopped.join(', ') || 'nothing on this host'}; data dirs removed: ${e.removedDirs.length}\n`);
          break;
        case 'info':
          process.stdout.write(`${e.message}\n`);
          break;
      }
    },
    stop: stopBar,
  };
}
