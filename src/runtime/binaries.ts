import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { EnvironmentError } from '../errors.js';

/** The engine binaries and the Debian package that ships each. */
export const BINARIES = {
  'redis-server': 'redis-server',
  'redis-sentinel': 'redis-sentinel',
  'redis-cli': 'redis-tools',
  'redis-benchmark': 'redis-tools',
  nutcracker: 'nutcracker',
  haproxy: 'haproxy',
} as const;
export type BinaryName = keyof typeof BINARIES;

/** nutcracker and haproxy live in /usr/sbin, which a non-root PATH often lacks. */
const EXTRA_DIRS = ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin'];

export function findBinary(name: BinaryName): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const d of dirs) {
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

export function requireBinary(name: BinaryName): string {
  const p = findBinary(name);
  if (p === null) {
    throw new EnvironmentError(
      `${name} is not installed; install it with: sudo apt-get install -y ${BINARIES[name]} (or run npm start, which installs it)`,
    );
  }
  return p;
}
