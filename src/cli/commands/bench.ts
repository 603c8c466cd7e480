import type { Command } from 'commander';
import { InvalidInputError } from '../../errors.js';
import { BENCH_TESTS, runThroughputBench } from '../../ops/bench-throughput.js';
import { benchFailoverHeader, benchFailoverRow, benchFailoverSummary, benchTable } from '../bench-text.js';
import { intOption, topologyFrom } from '../options.js';

interface ThroughputFlags {
  requests: number;
  clients: number;
  pipeline: number;
  tests: string;
  json?: boolean;
}

/**
 * `bench` is a command group. Its default subcommand, `throughput`, is the original redis-benchmark table, so
 * `redis-shard bench` alone runs it. More benchmarks are added as further subcommands of `bench` here, e.g.
 * `bench.command('failover')...` in register() below.
 */
export function register(program: Command): void {
  const bench = program.command('bench').description('benchmarks; without a subcommand: throughput (redis-benchmark via the proxy and direct)');
  registerThroughput(bench);
  registerFailover(bench);
  registerReshard(bench);
}

function registerReshard(bench: Command): void {
  bench
    .command('reshard')
    .description('its own stack on --base-port: N keys of mixed types, 2 -> 3 shards and back under client load; keys/s, bytes/s, write stall, cut pause, keys lost')
    .option('--keys <n>', 'keys to load', intOption('--keys', 1000, 100_000_000), 1_000_000)
    .option('--base-port <port>', 'first port of the bench stack (uses base..base+42)', intOption('--base-port', 1024, 65_000), 25_500)
    .option('--clients <n>', 'client connections writing through the proxy during the reshards', intOption('--clients', 1, 1000), 4)
    .option('--rate <keys-per-s>', 'reshard --rate (default: unthrottled)', intOption('--rate', 1, 100_000_000))
    .option('--mode <mode>', 'agent.apply of the bench stack: haproxy (the default mode) or supervise', 'haproxy')
    .option('--hash-change', 'a third step: the hash changed (fnv1a_64 -> murmur) on the two shards, keys moving both ways')
    .option('--json', 'one JSON document')
    .action(async (o: { keys: number; basePort: number; clients: number; rate?: number; mode: string; hashChange?: boolean; json?: boolean }) => {
      if (o.mode !== 'haproxy' && o.mode !== 'supervise') throw new InvalidInputError(`--mode ${o.mode}: expected haproxy or supervise`);
      const { benchReshard } = await import('../../ops/bench-reshard.js');
      const r = await benchReshard({
        keys: o.keys, basePort: o.basePort, clients: o.clients, rate: o.rate ?? null, mode: o.mode, hashChange: o.hashChange === true, log: (l) => process.stderr.write(`${l}\n`),
      });
      if (o.json) {
        process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        return;
      }
      const lines = [`bench reshard: ${r.keys} keys (mixed types, 10% with TTL), ${r.clients} clients through the proxy, apply mode ${r.mode}; ${r.machine.cpus} x ${r.machine.model}`];
      for (const s of r.steps) {
        lines.push(
          `${s.step}: ${s.keysMoved} keys, ${(s.bytesMoved / 1e6).toFixed(1)} MB moved; copy ${s.keysPerSec} keys/s, ${(s.bytesPerSec / 1e6).toFixed(1)} MB/s (${s.copySeconds} s); whole reshard ${s.totalSeconds} s; load average ${s.loadAverage[0]} -> ${s.loadAverage[1]}`,
          `  cut: ${s.cutMode} ${s.cutPauseMs} ms (drain ${s.cutDrainMs} ms); clients: ${s.clientOps} ops, longest write stall ${s.longestWriteStallAtCutMs} ms at the cut, ${s.longestWriteStallMs} ms over the whole reshard; ${s.clientErrors} errors${s.clientErrors ? ` (${Object.entries(s.clientErrorKinds).map(([k, n]) => `${n} x ${k}`).join('; ')})` : ''}`,
          `  lost: ${s.loadedKeysLost} loaded keys, ${s.lostAcknowledgedWrites} of ${s.acknowledgedWrites} acknowledged writes`,
        );
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}

function registerThroughput(bench: Command): void {
  bench
    .command('throughput', { isDefault: true })
    .description('redis-benchmark through the proxy and directly against each shard master, side by side with the proxy/direct ratio')
    .option('-n, --requests <n>', 'requests per command (redis-benchmark -n)', intOption('--requests', 1, 100_000_000), 100_000)
    .option('--clients <n>', 'parallel connections (redis-benchmark -c)', intOption('--clients', 1, 10_000), 100)
    .option('--pipeline <n>', 'pipelined requests per connection (redis-benchmark -P)', intOption('--pipeline', 1, 10_000), 16)
    .option('--tests <list>', 'redis-benchmark tests (-t)', BENCH_TESTS)
    .option('--json', 'print one JSON document instead of the table')
    .action(async (flags: ThroughputFlags, cmd: Command) => {
      const topo = topologyFrom(cmd);
      const r = await runThroughputBench(topo, {
        requests: flags.requests,
        clients: flags.clients,
        pipeline: flags.pipeline,
        tests: flags.tests,
        // Progress goes to stderr so stdout stays the table (or the JSON) alone.
        onTarget: (label, addr) => process.stderr.write(`running redis-benchmark against ${label} ${addr}...\n`),
      });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        `redis-benchmark -t ${flags.tests} -c ${r.clients} -P ${r.pipeline} -n ${r.requests}; requests per second\n${benchTable(r)}\n` +
          'proxy/direct = proxy / mean of the masters: what a client gives up against one master alone\n',
      );
    });
}

function registerFailover(bench: Command): void {
  bench
    .command('failover')
    .description("kill -9 a shard's master N times with a writer through the proxy; print write unavailability and the agent's reaction")
    .option('--runs <n>', 'how many kills', intOption('--runs', 1, 1000), 10)
    .option('--shard <name>', 'shard whose master is killed (default: the first)')
    .option('--timeout <seconds>', 'how long one failover may take', intOption('--timeout', 1, 600), 30)
    .option('--compare', 'run the kills in apply mode supervise and in haproxy, each on a stack of its own on the description\'s ports (they must be free), and print both side by side')
    .option('--requests <n>', 'with --compare: redis-benchmark requests per test for the throughput rows (0 skips them)', intOption('--requests', 0, 100_000_000), 100_000)
    .action(async (opts: { runs: number; shard?: string; timeout: number; compare?: boolean; requests: number }, cmd: Command) => {
      const topo = topologyFrom(cmd);
      if (opts.compare) {
        if (opts.shard !== undefined) throw new InvalidInputError('--shard: not used with --compare (the first shard fails, a client writes to the second)');
        const { benchCompareModes } = await import('../../ops/bench-compare.js');
        const { compareEventLine, compareTable } = await import('../bench-compare-text.js');
        const r = await benchCompareModes(topo, { runs: opts.runs, requests: opts.requests, timeoutMs: opts.timeout * 1000, onEvent: (e) => process.stdout.write(`${compareEventLine(e)}\n`) });
        process.stdout.write(`\n${compareTable(r)}\n`);
        return;
      }
      const { benchFailover } = await import('../../ops/bench-failover.js');
      await benchFailover(topo, {
        runs: opts.runs,
        ...(opts.shard !== undefined ? { shard: opts.shard } : {}),
        timeoutMs: opts.timeout * 1000,
        onStart: (info) => process.stdout.write(benchFailoverHeader(info)),
        onRun: (run) => process.stdout.write(benchFailoverRow(run)),
      }).then((r) => process.stdout.write(benchFailoverSummary(r)));
    });
}
