import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { atomicWriteFile } from './atomic-write.js';

/**
 * While a reshard runs, the ring the proxy must serve is not the description's (the operator has edited it
 * already; the keys are still on the old ring until the cut). The reshard records here the ring(s) a proxy
 * config may have now, and the agent judges a config against these instead of the description.
 */
export function reshardRingPath(stateDir: string): string {
  return join(stateDir, 'reshard', 'expected-rings.json');
}

/** The nutcracker.yml texts whose ring is acceptable now, or null when no reshard says so. */
export function expectedRings(stateDir: string): string[] | null {
  const p = reshardRingPath(stateDir);
  if (!existsSync(p)) return null;
  try {
    const v = JSON.parse(readFileSync(p, 'utf8')) as unknown;
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : null;
  } catch {
    return null;
  }
}

export function writeExpectedRings(stateDir: string, ymls: string[] | null): void {
  if (ymls === null) rmSync(reshardRingPath(stateDir), { force: true });
  else atomicWriteFile(reshardRingPath(stateDir), JSON.stringify(ymls), { mode: 0o600 });
}
