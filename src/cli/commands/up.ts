import type { Command } from 'commander';
import { TransientError } from '../../errors.js';
import { driftLine, findDrift } from '../../ops/drift.js';
import { down, up } from '../../runtime/index.js';
import { intOption, topologyFrom } from '../options.js';
import { output } from '../output.js';

export function register(program: Command): void {
  program
    .command('up')
    .description("start this host's part of the deployment (what is not running yet) and wait until it is ready")
    .option('--host <host>', 'act as this host of the description (default: this machine\'s addresses)')
    .option('--timeout <seconds>', 'how long to wait for the stack to be ready', intOption('--timeout', 1, 3600), 60)
    .option('--foreground', 'stay attached, show live status, and stop everything on Ctrl-C')
    .action(async (opts: { host?: string; timeout: number; foreground?: boolean }, cmd: Command) => {
      const topo = topologyFrom(cmd);
      // Loaded before starting, so no signal finds the gap between "ready" and the status screen's handlers.
      const foreground = opts.foreground ? await import('./foreground.js') : null;
      const log = (line: string) => process.stdout.write(`${line}\n`);
      // Ctrl-C (or a closing terminal) while starting: up() stops what it started, as on any failure.
      const interrupt = new AbortController();
      const onSignal = () => interrupt.abort();
      const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
      for (const sig of signals) process.on(sig, onSignal);
      let result;
      try {
        result = await up(topo, { host: opts.host, timeoutMs: opts.timeout * 1000, log, signal: interrupt.signal });
      } catch (e) {
        for (const sig of signals) process.off(sig, onSignal);
        if (interrupt.signal.aborted) throw new TransientError('interrupted: what this up had started was stopped again');
        throw e;
      }
      // The handlers stay until the status screen has its own: a signal while the drift report runs is kept.
      const n = result.started.length;
      log(
        n === 0
          ? `already running: ${result.alreadyRunning.length} processes; nothing to start`
          : `ready: started ${n} processes${result.alreadyRunning.length ? `, ${result.alreadyRunning.length} were already running` : ''}; ${proxiesText(result.parts.proxies.map((p) => p.listen), topo.proxy.listen)}`,
      );
      // Configs are rendered once: an edit of the description since then changes nothing unless applied.
      const drift = await findDrift(topo, opts.host !== undefined ? { host: opts.host } : {}).catch(() => []);
      for (const d of drift) log(`drift: ${driftLine(d)}`);
      if (drift.length > 0) log('  (redis-shard drift --apply sets what can be set live, and says what needs a restart)');
      if (topo.agent.apply === 'staging' && result.parts.proxy) {
        // up runs nothing privileged: in staging mode something else must install the staged file.
        log(`note: agent.apply is "staging": the agent writes ${topo.stagingFile}; the proxy follows a failover only once something installs it (redis-shard proxy install-staged, see docs/production.md)`);
      }
      if (!foreground) {
        for (const sig of signals) process.off(sig, onSignal);
        return;
      }
      output.exitOnEpipe = false;
      // watchStatus installs its handlers before it first awaits, so no signal falls between the two.
      const watching = interrupt.signal.aborted ? Promise.resolve() : foreground.watchStatus(topo, opts.host);
      for (const sig of signals) process.off(sig, onSignal);
      if ((await watching) === 'stopped-elsewhere') {
        log('the stack was stopped from elsewhere (redis-shard down); nothing left to stop');
        return;
      }
      // From here the stack must be stopped whole: a closing terminal (SIGHUP), a second Ctrl-C or a reader
      // of our output that went away (EPIPE) must not leave half of it running.
      const hold = () => process.stderr.write('still stopping the stack...\n');
      process.on('SIGINT', hold);
      process.on('SIGTERM', hold);
      process.on('SIGHUP', () => {});
      process.stdout.on('error', () => {});
      process.stderr.on('error', () => {});
      log('stopping...');
      await down(topo, { host: opts.host, log });
    });
}

/** Where clients connect: this host's proxies, or (none here) the description's first. */
function proxiesText(here: string[], first: string): string {
  if (here.length === 0) return `proxy at ${first}`;
  return here.length === 1 ? `proxy at ${here[0]}` : `proxies at ${here.join(', ')}`;
}
