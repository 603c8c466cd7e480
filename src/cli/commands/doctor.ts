import type { Command } from 'commander';
import { EnvironmentError } from '../../errors.js';
import { runDoctor, type DoctorReport } from '../../ops/doctor.js';
import { renderTable } from '../table.js';
import { topologyFrom } from '../options.js';

export function register(program: Command): void {
  program
    .command('doctor')
    .description("check that this host can run its part: binaries and versions, ports, state dir, password (exit 3 on any failure)")
    .option('--host <host>', "act as this host of the description (default: this machine's addresses)")
    .option('--json', 'print one JSON document')
    .action(async (flags: { host?: string; json?: boolean }, cmd: Command) => {
      const topo = topologyFrom(cmd);
      const r = await runDoctor(topo, flags.host !== undefined ? { host: flags.host } : {});
      process.stdout.write(flags.json ? `${JSON.stringify(r, null, 2)}\n` : `${doctorText(r)}\n`);
      if (!r.ok) {
        const failed = r.checks.filter((c) => c.state === 'fail');
        throw new EnvironmentError(`doctor: ${failed.length} check${failed.length === 1 ? '' : 's'} failed: ${failed.map((c) => `${c.what}: ${c.detail}`).join('; ')}`);
      }
    });
}

function doctorText(r: DoctorReport): string {
  const mark = { ok: 'ok', warn: 'WARN', fail: 'FAIL' } as const;
  const out = [
    `description: ${r.description ?? 'built-in default deployment'}`,
    renderTable(['check', '', 'detail'], r.checks.map((c) => [c.what, mark[c.state], c.detail])),
  ];
  const toFix = r.checks.filter((c) => c.state !== 'ok' && c.fix);
  if (toFix.length > 0) {
    out.push('to fix:');
    for (const c of toFix) out.push(`  ${mark[c.state]} ${c.what}: ${c.fix}`);
  }
  out.push(r.ok ? 'doctor: no failures' : `doctor: ${r.checks.filter((c) => c.state === 'fail').length} failed`);
  return out.join('\n');
}
