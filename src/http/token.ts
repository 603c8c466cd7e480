import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { InvalidInputError } from '../errors.js';
import type { Topology } from '../topology/index.js';

/** The HTTP token (agent.http.tokenFile / tokenEnv), read at start; null when none is configured. Never logged. */
export function readHttpToken(topo: Pick<Topology, 'agent' | 'file'>): string | null {
  const h = topo.agent.http;
  if (!h) return null;
  const where = topo.file ?? '(default deployment)';
  if (h.tokenEnv !== undefined) {
    const v = process.env[h.tokenEnv];
    if (v === undefined || v.trim() === '') throw new InvalidInputError(`${where}: agent.http.tokenEnv: environment variable ${h.tokenEnv} is not set or empty`);
    return v.trim();
  }
  if (h.tokenFile !== undefined) {
    const file = resolve(topo.file ? dirname(topo.file) : process.cwd(), h.tokenFile);
    let text: string;
    try {
      text = readFileSync(file, 'utf8').trim();
    } catch (e) {
      throw new InvalidInputError(`${where}: agent.http.tokenFile: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    if (text === '') throw new InvalidInputError(`${where}: agent.http.tokenFile: ${file} is empty`);
    return text;
  }
  return null;
}
