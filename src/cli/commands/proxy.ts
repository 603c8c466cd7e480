import { Option, type Command } from 'commander';
import { installStaged, RESTART_MODES, type RestartMode } from '../../services/index.js';
import { oneProxyTopology, topologyFrom } from '../options.js';

export function register(program: Command): void {
  const proxy = program.command('proxy').description('the proxy (nutcracker) config');
  proxy
    .command('install-staged')
    .description("check the config the agent staged (nutcracker -t; only server addresses may change, to instances of the description), install it atomically, restart nutcracker; run as root by the path unit")
    .addOption(
      new Option('--restart <how>', 'how nutcracker is restarted: systemd, pidfile (the state dir\'s pid file, as up runs it), none; auto = systemd when it runs').choices(RESTART_MODES as string[]).default('auto'),
    )
    .option('--unit <name>', 'the nutcracker unit, with --restart systemd', 'redis-shard-proxy.service')
    .option('--group <name>', "group of the installed file when it holds no password (the services' group)")
    .option('--force', 'install and restart even when nothing changed')
    .option('--proxy <listen>', 'with several proxies: the one whose staged config is installed (its listen address)')
    .action(async (opts: { restart: RestartMode; unit: string; group?: string; force?: boolean; proxy?: string }, cmd: Command) => {
      const topo = oneProxyTopology(topologyFrom(cmd), opts.proxy);
      const log = (line: string) => process.stdout.write(`${line}\n`);
      await installStaged(topo, { restart: opts.restart, unit: opts.unit, group: opts.group, force: opts.force, log });
    });
}
