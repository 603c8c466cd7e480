import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { CheckFailedError, InvalidInputError } from '../../errors.js';
import { DEFAULT_PREFIX } from '../../ops/data.js';
import { confirmationText, runFailoverTest } from '../../ops/failover-test.js';
import { renderFailoverEvent } from '../failover-text.js';
import { intOption, topologyFrom } from '../options.js';

export function register(program: Command): void {
  program
    .command('failover-test')
    .description('the original test.sh against the running stack: load keys, kill masters (and replicas), check every key survives and lives on one shard')
    .option('-y, --yes', 'do not ask: kill instances and replace the test keys')
    .option('--count <n>', 'keys to load and check', intOption('--count', 1, 1_000_000), 1000)
    .option('--prefix <text>', 'prefix of the test keys', DEFAULT_PREFIX)
    .option('--timeout <seconds>', 'how long one failover may take', intOption('--timeout', 1, 600), 30)
    .action(async (opts: { yes?: boolean; count: number; prefix: string; timeout: number }, cmd: Command) => {
      const topo = topologyFrom(cmd);
      if (!opts.yes) {
        // Killing instances of a stack is not something to agree to by accident: with nobody to ask, refuse.
        if (!process.stdin.isTTY) {
          throw new InvalidInputError(
            'failover-test kills instances of the running stack and replaces test keys; stdin is not a terminal, so it cannot ask. Run it with --yes to go ahead',
          );
        }
        const rl = createInterface({ input: process.stdin, output: process.stdout });
        const answer = await rl.question(confirmationText(topo, opts.count, opts.prefix)).finally(() => rl.close());
        if (!/^y(es)?$/i.test(answer.trim())) {
          process.stdout.write('Nothing was done\n');
          process.exitCode = 1;
          return;
        }
      } else {
        process.stdout.write(`${confirmationText(topo, opts.count, opts.prefix)}y (--yes)\n`);
      }
      const r = await runFailoverTest(topo, {
        count: opts.count,
        prefix: opts.prefix,
        timeoutMs: opts.timeout * 1000,
        onEvent: (e) => process.stdout.write(renderFailoverEvent(e)),
      });
      if (!r.ok) {
        const failed = r.cases.filter((c) => !c.ok).map((c) => c.n);
        throw new CheckFailedError(
          failed.length ? `failover-test: test case ${failed.join(', ')} failed (see above)` : 'failover-test: not every case ran (see above)',
        );
      }
    });
}
