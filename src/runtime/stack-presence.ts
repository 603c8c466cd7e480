import { existsSync } from 'node:fs';
import type { Topology } from '../topology/index.js';
import { localParts } from './host.js';
import { partsOf } from './stack.js';

/**
 * True when none of this host's parts has a pid file left: `down` (from another terminal, or a service manager)
 * removes them as it stops each part. A crash leaves the pid files, so a stack that died is not "stopped".
 */
export function stackStopped(topo: Topology, host?: string): boolean {
  return partsOf(topo, localParts(topo, host), true).every((p) => !existsSync(p.pidFile));
}
