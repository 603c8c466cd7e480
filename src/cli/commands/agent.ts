import type { Command } from 'commander';
import { fileEventSink, startAgent } from '../../agent/index.js';
import { startAgentHttp } from '../../ops/index.js';
import { agentPaths, readPassword } from '../../topology/index.js';
import { oneProxyTopology, topologyFrom } from '../options.js';

export function register(program: Command): void {
  program
    .command('agent')
    .description('keep nutcracker pointed at the masters the sentinels elect; runs until SIGTERM/SIGINT (normally started by up)')
    .option('--no-fast-path', 'switch only when a majority of sentinels agree (no early switch on +selected-slave)')
    .option('--proxy <listen>', 'with several proxies: the one this agent keeps on the masters (its listen address)')
    .action(async (opts: { fastPath: boolean; proxy?: string }, cmd: Command) => {
      // One agent per proxy: its own config writer, lock, fast path and HTTP side (up passes --proxy).
      const topo = oneProxyTopology(topologyFrom(cmd), opts.proxy);
      const password = readPassword(topo);
      // /metrics and the dashboard (agent.http): fed the agent's events, never in the reconcile loop's way.
      const http = startAgentHttp(topo, fileEventSink(agentPaths(topo.proxyDir).events));
      const agent = startAgent(topo, { password, fastPath: opts.fastPath, events: http.events });
      // The agent never exits on a peer's error; a bug that escapes is logged and the agent keeps running
      // (its supervisor would restart it anyway, but that would drop its view of a failover in flight).
      const onStray = (e: unknown) => process.stdout.write(`${new Date().toISOString()} internal error (continuing): ${(e as Error)?.stack ?? String(e)}\n`);
      process.on('unhandledRejection', onStray);
      process.on('uncaughtException', onStray);
      await new Promise<void>((resolve) => {
        process.once('SIGTERM', resolve);
        process.once('SIGINT', resolve);
      });
      // nutcracker is left running: stopping the agent must not stop the proxy.
      await agent.stop();
      await http.stop();
      process.exit(0);
    });
}

