import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { EnvironmentError } from '../errors.js';

const run = promisify(execFile);

/** systemd's own test (sd_booted): this directory exists only when systemd is PID 1. */
export function systemdRunning(): boolean {
  return existsSync('/run/systemd/system');
}

/** Runs systemctl; a failure becomes an EnvironmentError naming the command and systemctl's own words. */
export async function systemctl(args: string[]): Promise<void> {
  try {
    await run('systemctl', args, { timeout: 120_000 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new EnvironmentError(`systemctl ${args.join(' ')} failed: ${(err.stderr ?? '').trim() || err.message}`, { cause: e });
  }
}

export interface Account {
  user: string;
  uid: number;
  gid: number;
  /** Name of the user's primary group. */
  group: string;
}

/** The account named `user` (through NSS, so LDAP users count too), or null when there is none. */
export function lookupAccount(user: string): Account | null {
  const pw = getent('passwd', user);
  if (pw === null) return null;
  const [, , uid, gid] = pw.split(':');
  const gr = getent('group', gid!);
  return { user, uid: Number(uid), gid: Number(gid), group: gr?.split(':')[0] ?? gid! };
}

/** A group's id, or null when there is none. */
export function lookupGroup(group: string): number | null {
  const gr = getent('group', group);
  return gr === null ? null : Number(gr.split(':')[2]);
}

function getent(db: string, key: string): string | null {
  try {
    return execFileSync('getent', [db, key], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0] ?? null;
  } catch {
    return null;
  }
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}
