#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { errorMessage, isKnownError } from '../errors.js';
import { exitWhenFlushed, watchStdout } from './output.js';

/**
 * Each command lives in cli/commands/<name>.ts and exports `register(program)`. They are imported lazily so
 * that `redis-shard notify` (run by Sentinel on every failover) loads only what it needs.
 */
const COMMANDS: Record<string, () => Promise<{ register(program: Command): void }>> = {
  init: () => import('./commands/init.js'),
  up: () => import('./commands/up.js'),
  down: () => import('./commands/down.js'),
  drift: () => import('./commands/drift.js'),
  status: () => import('./commands/status.js'),
  data: () => import('./commands/data.js'),
  bench: () => import('./commands/bench.js'),
  doctor: () => import('./commands/doctor.js'),
  locate: () => import('./commands/locate.js'),
  compat: () => import('./commands/compat.js'),
  agent: () => import('./commands/agent.js'),
  notify: () => import('./commands/notify.js'),
  'failover-test': () => import('./commands/failover-test.js'),
  services: () => import('./commands/services.js'),
  proxy: () => import('./commands/proxy.js'),
  reshard: () => import('./commands/reshard.js'),
  'partition-test': () => import('./commands/partition-test.js'),
};

/** The command word: the first argument that is neither a global option nor its value. */
function commandName(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-c' || a === '--config') i++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

watchStdout();

export async function main(argv: string[]): Promise<number> {
  const program = new Command('redis-shard')
    .description('Sharded, highly available Redis: twemproxy + Sentinel, kept in step by an agent')
    .option('-c, --config <file>', 'deployment description (default: ./redis-shard.yml, else the built-in default)')
    .showHelpAfterError('(run redis-shard --help for usage)')
    .exitOverride();
  const wanted = commandName(argv.slice(2));
  const names = wanted && wanted in COMMANDS ? [wanted] : Object.keys(COMMANDS);
  for (const name of names) {
    try {
      (await COMMANDS[name]!()).register(program);
    } catch (e) {
      // A command module not built yet must not take the others down with it.
      if ((e as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw e;
    }
  }
  try {
    await program.parseAsync(argv);
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (isKnownError(e)) {
      process.stderr.write(`redis-shard: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(`redis-shard: unexpected error: ${errorMessage(e)}\n${(e as Error)?.stack ?? ''}\n`);
    return 70;
  }
}

// Exit as soon as the command is done: client libraries leave reconnect and timeout timers behind (ioredis
// after a refused connection), and a CLI that lingers seconds after printing its answer is a bug to the
// operator. Long-running commands (agent, up --foreground) resolve only when they are finished. The exit
// waits until stdout and stderr are written out, whatever they are (a pipe takes only 64 KiB at once).
main(process.argv).then(
  (code) => exitWhenFlushed(code),
  (e) => {
    process.stderr.write(`redis-shard: ${errorMessage(e)}\n`);
    return exitWhenFlushed(70);
  },
);
