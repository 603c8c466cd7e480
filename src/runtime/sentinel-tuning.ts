import type { Topology } from '../topology/index.js';
import { withClient } from './redis-client.js';

/** The SENTINEL DEBUG arguments the description asks for, or none. */
export function sentinelTuningArgs(topo: Pick<Topology, 'sentinel'>): string[] {
  const args: string[] = [];
  if (topo.sentinel.pingPeriodMs > 0) args.push('ping-period', String(topo.sentinel.pingPeriodMs));
  if (topo.sentinel.askPeriodMs > 0) args.push('ask-period', String(topo.sentinel.askPeriodMs));
  return args;
}

/**
 * Applies the description's Sentinel periods to one sentinel. Sentinel keeps them only in memory, so this runs
 * after every start of a sentinel (`up`) and on every agent (re)connect. Returns an error text, never throws:
 * a sentinel that refuses is reported and keeps its defaults.
 */
export async function tuneSentinel(addr: string, password: string | null, topo: Pick<Topology, 'sentinel'>): Promise<string | null> {
  const args = sentinelTuningArgs(topo);
  if (args.length === 0) return null;
  try {
    await withClient(addr, password, (c) => c.call('SENTINEL', 'DEBUG', ...args), { timeoutMs: 500 });
    return null;
  } catch (e) {
    return `sentinel ${addr}: SENTINEL DEBUG ${args.join(' ')} failed: ${(e as Error).message}`;
  }
}
