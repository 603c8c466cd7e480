import { existsSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { EnvironmentError, InvalidInputError, TransientError } from '../errors.js';
import { agentPaths, haproxyPaths, type Topology } from '../topology/index.js';
import { localParts, type LocalParts } from './host.js';
import { isAlive, ourPid } from './process.js';
import { partsOf, type Part, type PartKind } from './stack.js';
import { acquireStackLock, describeHolder } from './stack-lock.js';
import { hasStateMarker, STATE_MARKER } from './state-dir.js';
import { stopPid } from './stop.js';

export interface DownOptions {
  host?: string;
  purge?: boolean;
  log?: (line: string) => void;
  /** How long to wait for another command (not an up, which is asked to stop) holding the lock (default 10 s). */
  lockWaitMs?: number;
}

export interface DownResult {
  stopped: Part[];
  /** Whether --purge removed the state dir (false when it did not exist). */
  purged: boolean;
}

/**
 * Stops this host's parts, gracefully: agent first (so it does not react to what follows), then the proxy,
 * the sentinels (so stopping masters triggers no failover), and last the Redis instances (SIGTERM makes
 * Redis flush its AOF). --purge then removes the state dir.
 */
export async function down(topo: Topology, opts: DownOptions = {}): Promise<DownResult> {
  const log = opts.log ?? (() => {});
  const parts = localParts(topo, opts.host);
  // No state dir: nothing was ever started from it, and nothing is made just to lock it.
  if (!existsSync(topo.stateDir)) return { stopped: [], purged: false };
  const lock = await acquireStackLock(topo.stateDir, 'down', {
    host: opts.host,
    waitMs: opts.lockWaitMs ?? 10_000,
    onWait: (h) => log(`waiting: ${describeHolder(h)} holds the lock on ${topo.stateDir}`),
    // An up that is still starting is told to stop what it started; then down stops the rest.
    askToStop: { commands: ['up'], stopWaitMs: 60_000, onAsk: (h) => log(`asked ${describeHolder(h)} to stop`) },
  });
  try {
    const stopped = await stopParts(topo, parts, log);
    const purged = opts.purge ? purgeStateDir(topo) : false;
    return { stopped, purged };
  } finally {
    lock.release();
  }
}

async function stopParts(topo: Topology, parts: LocalParts, log: (line: string) => void): Promise<Part[]> {
  const all = partsOf(topo, parts, true).reverse();
  for (const proxy of parts.proxies) {
    // The agent itself, in case its supervisor is gone.
    all.push({ kind: 'agent', addr: `${all.find((p) => p.kind === 'agent' && p.proxy === proxy)!.addr} (worker)`, pidFile: agentPaths(proxy.dir).pid, proxy });
    // An HAProxy left from an earlier apply mode is stopped all the same.
    if (!all.some((p) => p.kind === 'haproxy' && p.proxy === proxy)) all.push({ kind: 'haproxy', addr: 'haproxy', pidFile: haproxyPaths(proxy.dir).pid, proxy });
  }
  const stopped: Part[] = [];
  const byKind = (k: PartKind) => all.filter((p) => p.kind === k);
  // The supervisor stops its agent itself; the worker entry only catches an agent whose supervisor is gone.
  const agents = byKind('agent').map((p) => [p]);
  // A process that outlives SIGKILL is reported after every other part was stopped, not instead.
  const stuck: string[] = [];
  for (const group of [...agents, byKind('proxy'), byKind('haproxy'), byKind('sentinel'), byKind('redis')]) {
    await Promise.all(
      group.map(async (p) => {
        const pid = ourPid(p.pidFile, topo.stateDir);
        if (pid === null) return;
        try {
          await stopPid(pid, { graceMs: p.kind === 'redis' ? 20_000 : 5000 });
        } catch (e) {
          stuck.push(`${p.kind} ${p.addr}: ${(e as Error).message}`);
          return;
        }
        rmSync(p.pidFile, { force: true });
        stopped.push(p);
        log(`stopped ${p.kind} ${p.addr} (pid ${pid})`);
      }),
    );
  }
  if (stuck.length > 0) throw new EnvironmentError(`could not stop ${stuck.join('; ')}`);
  return stopped;
}

function purgeStateDir(topo: Topology): boolean {
  const dir = topo.stateDir;
  if (!existsSync(dir)) return false;
  if (!hasStateMarker(dir)) {
    throw new InvalidInputError(`--purge: ${dir} has no ${STATE_MARKER} file, so it may not be ours; remove it yourself if it is`);
  }
  const everything = partsOf(topo, localParts(topo), true);
  const alive = everything.filter((p) => ourPid(p.pidFile, topo.stateDir) !== null);
  if (alive.length > 0) {
    throw new TransientError(`--purge: ${alive.map((p) => `${p.kind} ${p.addr}`).join(', ')} still running from ${dir}; stop them first (down --host ...)`);
  }
  // Last guard before deleting data: no process at all (ours by pid file or not) may be working inside it.
  const inside = processesWorkingIn(dir);
  if (inside.length > 0) {
    throw new TransientError(`--purge: processes ${inside.join(', ')} are working inside ${dir}; stop them first; nothing was removed`);
  }
  rmSync(dir, { recursive: true, force: true });
  return true;
}

function processesWorkingIn(dir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      const cwd = readlinkSync(`/proc/${name}/cwd`);
      if ((cwd === dir || cwd.startsWith(`${dir}/`)) && isAlive(Number(name))) out.push(Number(name));
    } catch {
      /* gone, or not ours to see */
    }
  }
  return out;
}
