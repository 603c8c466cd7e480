/**
 * Restarting killed instances while probes measure. runtime's up() does synchronous work (spawn, fsync of
 * rendered files, binary lookup) that would stall this process's event loop and show up as a client outage
 * that is not there; so `redis-shard up` runs as a child process and this process only waits for it.
 */
import { execFile } from 'node:child_process';
import { TransientError } from '../errors.js';
import { builtEntry } from './entry-points.js';
import type { Topology } from '../topology/index.js';

export function upOutOfProcess(topo: Topology, timeoutSeconds = 60): Promise<void> {
  const main = builtEntry('cli/main.js');
  const args = [main, ...(topo.file ? ['-c', topo.file] : []), 'up', '--timeout', String(timeoutSeconds)];
  return new Promise((resolve, reject) => {
    // Same cwd: without a description file the default deployment's state dir is relative to it.
    execFile(process.execPath, args, { cwd: process.cwd(), timeout: (timeoutSeconds + 30) * 1000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      reject(new TransientError(`restarting the killed instances failed: ${String(stderr).trim() || err.message}`, { cause: err }));
    });
  });
}
