import { readFileSync, statSync } from 'node:fs';
import { InvalidInputError } from '../errors.js';
import type { Topology } from './load.js';

/**
 * The stack's password, or null when the description has no auth. Read at the moment of use so a rotated
 * file is picked up; the value is never logged or put in an error message.
 */
export function readPassword(topo: Pick<Topology, 'auth' | 'passwordFile' | 'file'>): string | null {
  if (!topo.auth) return null;
  const where = topo.file ?? '(default deployment)';
  if (topo.auth.passwordEnv) {
    const v = process.env[topo.auth.passwordEnv];
    if (v === undefined || v === '') {
      throw new InvalidInputError(`${where}: auth.passwordEnv: environment variable ${topo.auth.passwordEnv} is not set or empty`);
    }
    return checkPassword(v, `environment variable ${topo.auth.passwordEnv}`, where);
  }
  const file = topo.passwordFile!;
  let text: string;
  try {
    statSync(file);
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InvalidInputError(`${where}: auth.passwordFile: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  return checkPassword(text.replace(/\r?\n$/, ''), `password file ${file}`, where);
}

function checkPassword(v: string, source: string, where: string): string {
  if (v.length === 0) throw new InvalidInputError(`${where}: auth: ${source} is empty`);
  // The password goes into redis.conf, sentinel.conf and nutcracker.yml, each with its own quoting rules;
  // refusing these characters keeps every one of them unambiguous.
  if (/[\s"'\\]/.test(v) || /[^\x21-\x7e]/.test(v)) {
    throw new InvalidInputError(`${where}: auth: ${source} holds whitespace, quotes, backslashes or non-ASCII characters; use printable ASCII without them`);
  }
  return v;
}
