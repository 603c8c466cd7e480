import type { Command } from 'commander';
import { fileEventSink, notifyTargets, parseNotifyArgs, runNotify } from '../../agent/index.js';
import { agentPaths, readPassword } from '../../topology/index.js';
import { topologyFrom } from '../options.js';

// Exit codes: see NOTIFY_EXIT in src/agent/notify.ts (0 done, 1 retry, 2 bad input, 3 environment, 4 refused).
export function register(program: Command): void {
  program
    .command('notify')
    .description("Sentinel's client-reconfig-script: point the proxy at the new master (idempotent; exit 1 = retry later)")
    .argument('<master-name>')
    .argument('<role>', 'leader | observer')
    .argument('<state>', 'start')
    .argument('<from-ip>')
    .argument('<from-port>')
    .argument('<to-ip>')
    .argument('<to-port>')
    .action(async (...all: unknown[]) => {
      const cmd = all[all.length - 1] as Command;
      const args = parseNotifyArgs(all.slice(0, 7) as string[]);
      const described = topologyFrom(cmd);
      const password = readPassword(described);
      for (const topo of notifyTargets(described)) {
        const events = fileEventSink(agentPaths(topo.proxyDir).events, { out: (l) => process.stderr.write(l) });
        const r = await runNotify(topo, args, password, events);
        process.stdout.write(r.changed ? `proxy now sends ${r.shard} to ${r.to} (${r.file})\n` : `already applied: ${r.shard} -> ${r.to}\n`);
      }
    });
}
