import type { Command } from 'commander';
import { down } from '../../runtime/index.js';
import { topologyFrom } from '../options.js';

export function register(program: Command): void {
  program
    .command('down')
    .description("stop this host's part of the deployment, gracefully; nothing of it is left running")
    .option('--host <host>', "act as this host of the description (default: this machine's addresses)")
    .option('--purge', 'also remove the state dir (data, logs, rendered configs)')
    .action(async (opts: { host?: string; purge?: boolean }, cmd: Command) => {
      const topo = topologyFrom(cmd);
      const log = (line: string) => process.stdout.write(`${line}\n`);
      const { stopped, purged } = await down(topo, { host: opts.host, purge: opts.purge, log });
      log(stopped.length === 0 ? 'nothing was running' : `stopped ${stopped.length} processes`);
      if (opts.purge) log(purged ? `removed ${topo.stateDir}` : `nothing to remove: ${topo.stateDir} does not exist`);
    });
}
