import { resolve } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_DEST, DEFAULT_PREFIX, DEFAULT_USER, describePlan, installServices, planServices, uninstallServices } from '../../services/index.js';
import { topologyFrom } from '../options.js';

interface ServicesFlags {
  host?: string;
  dest: string;
  user: string;
  prefix: string;
  envFile?: string;
  cli?: string;
  dryRun?: boolean;
}

export function register(program: Command): void {
  const services = program.command('services').description("systemd units for this host's part of the deployment");
  const common = (c: Command) =>
    c
      .option('--dest <dir>', 'where the unit files go', DEFAULT_DEST)
      .option('--prefix <name>', 'unit name prefix (one per deployment on a host)', DEFAULT_PREFIX)
      .option('--dry-run', 'print what would be written or removed, and change nothing');

  common(
    services
      .command('install')
      .description('write the units (Redis and Sentinel templates, nutcracker, the agent in staging mode, the path unit that installs its config) and prepare the state dir; all or nothing')
      .option('--host <host>', "act as this host of the description (default: this machine's addresses)")
      .option('--user <name>', 'the unprivileged user the services run as', DEFAULT_USER)
      .option('--env-file <path>', 'with auth.passwordEnv: the root-only file systemd reads the variable from')
      .option('--cli <path>', "the redis-shard entry point the units run (default: this installation's dist/cli/main.js)"),
  ).action(async (opts: ServicesFlags, cmd: Command) => {
    const topo = topologyFrom(cmd);
    const o = {
      host: opts.host, dest: opts.dest, user: opts.user, prefix: opts.prefix, envFile: opts.envFile,
      ...(opts.cli !== undefined ? { bins: { cli: resolve(opts.cli) } } : {}),
    };
    if (opts.dryRun) {
      process.stdout.write(describePlan(topo, planServices(topo, o, 'dry-run')));
      return;
    }
    const log = (line: string) => process.stdout.write(`${line}\n`);
    await installServices(topo, { ...o, log });
  });

  common(services.command('uninstall').description('remove the units this prefix installed (stopping them when systemd runs); the state dir and its data stay')).action(
    async (opts: ServicesFlags, cmd: Command) => {
      const log = (line: string) => process.stdout.write(`${line}\n`);
      // The description is needed only for its state dir's lock; uninstall works without one too.
      let stateDir: string | undefined;
      try {
        stateDir = topologyFrom(cmd).stateDir;
      } catch {
        stateDir = undefined;
      }
      await uninstallServices({ dest: opts.dest, prefix: opts.prefix, dryRun: opts.dryRun, stateDir, log });
    },
  );
}
