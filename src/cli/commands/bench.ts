import type { Command } from 'commander';
import { intOption, topologyFrom } from '../options.js';

/** `bench`: a group of benchmarks that print figures. Each subcommand calls one function in ops/. */
export function register(program: Command): void {
  const bench = program.command('bench').description('benchmarks that print figures (not pass/fail tests)');
  registerFailover(bench);
}

function registerFailover(bench: Command): void {
  bench
    .command('failover')
    .description("kill -9 a shard's master N times with a writer through the proxy; print write unavailability and the agent's reaction")
    .option('--runs <n>', 'how many kills', intOption('--runs', 1, 1000), 10)
    .option('--shard <name>', "shard whose master is killed (default: the first)")
    .option('--timeout <seconds>', 'how long one failover may take', intOption('--timeout', 1, 600), 30)
    .action(async (opts: { runs: number; shard?: string; timeout: number }, cmd: Command) => {
      const topo = topologyFrom(cmd);
      const { benchFailover } = await import('../../ops/bench-failover.js');
      await benchFailover(topo, {
        runs: opts.runs,
        ...(opts.shard !== undefined ? { shard: opts.shard } : {}),
        timeoutMs: opts.timeout * 1000,
        out: (line) => process.stdout.write(`${line}\n`),
      });
    });
}
