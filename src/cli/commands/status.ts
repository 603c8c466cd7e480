import type { Command } from 'commander';
import { CheckFailedError } from '../../errors.js';
import { collectStatus, type StatusReport } from '../../ops/status.js';
import { renderStatusText } from '../status-text.js';
import { intOption, topologyFrom } from '../options.js';

interface StatusFlags {
  json?: boolean;
  watch?: boolean;
  host?: string;
  timeout: number;
  window: number;
}

export function register(program: Command): void {
  program
    .command('status')
    .description('every instance, sentinel and the proxy of the whole deployment, and where they disagree (exit 4 when unhealthy)')
    .option('--json', 'print one JSON document (with --watch: one per line)')
    .option('--watch', 'refresh every second until Ctrl-C')
    .option('--host <host>', "act as this host of the description (decides whether the proxy's config should be here)")
    .option('--timeout <ms>', 'how long to wait for each instance, sentinel and the proxy', intOption('--timeout', 50, 60_000), 700)
    .option('--window <minutes>', "how far back the proxy's log is read for client connections it closed", intOption('--window', 1, 7 * 24 * 60), 15)
    .action(async (flags: StatusFlags, cmd: Command) => {
      const topo = topologyFrom(cmd);
      const opts = { timeoutMs: flags.timeout, rejectionsWindowMs: flags.window * 60_000, ...(flags.host !== undefined ? { host: flags.host } : {}) };
      const show = (r: StatusReport, clear: boolean) => {
        if (flags.json) process.stdout.write(`${JSON.stringify(r, null, flags.watch ? undefined : 2)}\n`);
        else process.stdout.write(`${clear ? '\x1b[2J\x1b[H' : ''}${clear ? `${r.at}  (Ctrl-C ends)\n` : ''}${renderStatusText(r)}\n`);
      };
      if (!flags.watch) {
        const r = await collectStatus(topo, opts);
        show(r, false);
        if (!r.healthy) throw new CheckFailedError(`unhealthy: ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}; first: ${r.problems[0]}`);
        return;
      }
      await watch(async () => show(await collectStatus(topo, opts), process.stdout.isTTY === true && !flags.json));
    });
}

/** Runs `tick` every second (never two at once) until SIGINT/SIGTERM; ends with exit code 0. */
async function watch(tick: () => Promise<void>): Promise<void> {
  let stopped = false;
  let wake: (() => void) | null = null;
  const stop = () => {
    stopped = true;
    wake?.();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    while (!stopped) {
      const started = Date.now();
      await tick();
      const wait = Math.max(0, 1000 - (Date.now() - started));
      await new Promise<void>((r) => {
        const timer = setTimeout(r, wait);
        wake = () => {
          clearTimeout(timer);
          r();
        };
      });
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
