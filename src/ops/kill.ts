/**
 * kill -9 of Redis instances for failure scenarios. Only by PID, from the instance's pid file, and only when
 * that PID is ours (runtime.ourPid): a stranger that reused the PID is never signalled.
 */
import { CheckFailedError } from '../errors.js';
import { killAtOnce, ourPid } from '../runtime/index.js';
import { redisPaths, type Topology } from '../topology/index.js';

export interface Killed {
  addr: string;
  pid: number;
}

/** The PID of a running instance of this stack, or null. */
export function instancePid(topo: Topology, addr: string): number | null {
  return ourPid(redisPaths(topo.stateDir, addr).pid, topo.stateDir);
}

/**
 * SIGKILLs every instance in `addrs` back to back (no await between the signals, so "at once" means within
 * microseconds) and resolves once all are gone. Refuses before signalling anything if one is not running.
 * Returns the time of the signals on performance.now()'s clock and on the wall clock.
 */
export async function killInstances(topo: Topology, addrs: string[]): Promise<{ killed: Killed[]; at: number; wallAt: number }> {
  const targets = addrs.map((addr) => ({ addr, pid: instancePid(topo, addr) }));
  const missing = targets.filter((t) => t.pid === null).map((t) => t.addr);
  if (missing.length > 0) {
    throw new CheckFailedError(`cannot kill ${missing.join(', ')}: not running as a process of ${topo.stateDir}`);
  }
  const killed = targets as Killed[];
  const { at, wallAt } = await killAtOnce(killed.map((t) => t.pid));
  return { killed, at, wallAt };
}
