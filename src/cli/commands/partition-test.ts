import { Option, type Command } from 'commander';
import { InvalidInputError } from '../../errors.js';
import { renderTable } from '../table.js';
import { SCENARIOS, type ScenarioName } from '../../ops/partition/scenarios.js';
import { resultRows, runPartitionSuite } from '../../ops/partition/suite.js';
import type { LabApply, Layout } from '../../ops/partition/lab-stack.js';
import { intOption } from '../options.js';

function choice<T extends string>(name: string, allowed: readonly T[]) {
  return (value: string): T[] => {
    const parts = value.split(',').map((x) => x.trim());
    for (const p of parts) if (!allowed.includes(p as T)) throw new InvalidInputError(`${name}: "${p}" is not one of ${allowed.join(', ')}`);
    return parts as T[];
  };
}

export function register(program: Command): void {
  program
    .command('partition-test')
    .description('network splits on network-namespace hosts of this machine (root): acknowledged writes lost, indeterminate, unavailability per shard, with and without fencing')
    .addOption(
      new Option('--layout <list>', 'separate (proxy, agent and clients on a host of their own), colocated (beside s1\'s master), or both')
        .argParser(choice('--layout', ['separate', 'colocated', 'both'] as const))
        .default(['both'], 'both'),
    )
    .addOption(new Option('--scenarios <list>', `comma-separated, of: ${SCENARIOS.join(', ')}`).argParser(choice('--scenarios', SCENARIOS)).default([...SCENARIOS], 'all'))
    .addOption(
      new Option('--apply <list>', 'agent.apply of the stacks: haproxy (the default mode), supervise, or both')
        .argParser(choice('--apply', ['haproxy', 'supervise', 'both'] as const))
        .default(['haproxy'], 'haproxy'),
    )
    .addOption(new Option('--fence <which>', 'on, off or both (agent.fence.enabled)').argParser(choice('--fence', ['on', 'off', 'both'] as const)).default(['both'], 'both'))
    .option('--lag <seconds>', 'redis.minReplicasMaxLag for the stacks (default: the description default)', intOption('--lag', 1, 3600))
    .option('--hold <seconds>', 'how long each split lasts', intOption('--hold', 1, 3600), 20)
    .option('--pre <seconds>', 'writes before the split', intOption('--pre', 0, 3600), 5)
    .option('--post <seconds>', 'writes after the stack has converged', intOption('--post', 0, 3600), 10)
    .option('--flap <seconds>', 'flapping: each split and each heal lasts this long', intOption('--flap', 1, 600), 3)
    .option('--flap-for <seconds>', 'flapping: for how long', intOption('--flap-for', 1, 3600), 60)
    .option('--repeat <n>', 'run the scenarios this many times on each stack (intermittent outcomes)', intOption('--repeat', 1, 1000), 1)
    .option('--net <n>', 'lab addresses 10.231.<n>.0/24', intOption('--net', 0, 255), 13)
    .option('--json', 'every result as JSON')
    .action(
      async (opts: { layout: string[]; apply: string[]; scenarios: ScenarioName[]; fence: string[]; lag?: number; hold: number; pre: number; post: number; flap: number; flapFor: number; repeat: number; net: number; json?: boolean }) => {
        const layouts: Layout[] = opts.layout.includes('both') ? ['separate', 'colocated'] : (opts.layout as Layout[]);
        const applies: LabApply[] = opts.apply.includes('both') ? ['haproxy', 'supervise'] : (opts.apply as LabApply[]);
        const fence = opts.fence.includes('both') ? [false, true] : opts.fence.map((f) => f === 'on');
        const { redisSchema } = await import('../../topology/schema.js');
        const lag = opts.lag ?? redisSchema.parse({}).minReplicasMaxLag;
        const log = opts.json ? () => {} : (l: string) => process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${l}\n`);
        const r = await runPartitionSuite({
          layouts,
          applies,
          scenarios: opts.scenarios,
          fence,
          minReplicasMaxLag: lag,
          timing: { preMs: opts.pre * 1000, holdMs: opts.hold * 1000, postMs: opts.post * 1000, flapMs: opts.flap * 1000, flapForMs: opts.flapFor * 1000 },
          net: opts.net,
          repeat: opts.repeat,
          log,
        });
        if (opts.json) {
          process.stdout.write(`${JSON.stringify({ ...r, results: r.results.map((x) => ({ ...x, check: { ...x.check, shards: x.check.shards.map(({ lostAckTimes: _t, ...rest }) => rest) } })) }, null, 2)}\n`);
          return;
        }
        const t = resultRows(r.results);
        process.stdout.write(`\nmin-replicas-max-lag ${lag} s; split ${opts.hold} s; writes ${opts.pre} s before and ${opts.post} s after convergence; ${r.machine}\n`);
        process.stdout.write(`${renderTable(t.head, t.rows)}\n`);
        for (const s of r.skipped) process.stdout.write(`skipped ${s.scenario} in ${s.layout} (${s.apply}): ${s.why}\n`);
      },
    );
}
