import type { Command } from 'commander';
import { CheckFailedError, TransientError } from '../../errors.js';
import { applyDrift, driftLine, findDrift } from '../../ops/drift.js';
import { topologyFrom } from '../options.js';

export function register(program: Command): void {
  program
    .command('drift')
    .description('settings where the description and the running stack differ (exit 4 if any); --apply sets those the engines take live')
    .option('--apply', 'SENTINEL SET / CONFIG SET + CONFIG REWRITE each live-settable one; say what needs a restart')
    .option('--host <host>', "act as this host of the description (decides whether the proxy's config is here)")
    .option('--json', 'print one JSON document')
    .action(async (flags: { apply?: boolean; host?: string; json?: boolean }, cmd: Command) => {
      const topo = topologyFrom(cmd);
      const opts = flags.host !== undefined ? { host: flags.host } : {};
      const out = (line: string) => process.stdout.write(`${line}\n`);
      if (!flags.apply) {
        const drift = await findDrift(topo, opts);
        if (flags.json) out(JSON.stringify(drift, null, 2));
        else if (drift.length === 0) out('no drift: the running stack has the settings the description gives');
        else for (const d of drift) out(`drift: ${driftLine(d)}`);
        if (drift.length > 0) throw new CheckFailedError(`${drift.length} setting${drift.length === 1 ? '' : 's'} differ from the description; redis-shard drift --apply sets those that can be set live`);
        return;
      }
      const r = await applyDrift(topo, opts);
      if (flags.json) out(JSON.stringify(r, null, 2));
      else {
        for (const d of r.applied) out(`applied: ${d.field} = ${d.want} on ${d.where} (was ${d.have})`);
        for (const d of r.needsRestart) out(`${d.text !== undefined ? 'not applied' : 'needs a restart'}: ${driftLine(d)}`);
        for (const f of r.failed) out(`failed: ${f.drift.field} on ${f.drift.where}: ${f.error}`);
        if (r.applied.length + r.needsRestart.length + r.failed.length === 0) out('no drift: nothing to apply');
      }
      if (r.failed.length > 0) throw new TransientError(`${r.failed.length} setting${r.failed.length === 1 ? '' : 's'} could not be applied; run drift --apply again`);
    });
}
