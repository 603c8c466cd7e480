import { readFileSync, statSync } from 'node:fs';
import { processStartMs } from '../engine/index.js';
import { EnvironmentError } from '../errors.js';
import { canBind, waitFor, ourPid, readPidFile, spawnNutcracker, stopPid, waitNutcrackerListening, isAlive, type Spawned } from '../runtime/index.js';
import { mustParseAddress, proxyPaths, type Topology } from '../topology/index.js';

/** Stamped into the environment of every nutcracker the agent starts: the sha256 of the config it was started on. */
export const CONF_SHA_ENV = 'REDIS_SHARD_CONF_SHA';

export interface RestartTimings {
  /** ms from the signal to the old process being gone (0 when none was running). */
  stopMs: number;
  /** ms from spawning the new process to it accepting connections. */
  startMs: number;
  pid: number;
}

/**
 * The nutcracker the agent supervises (apply mode "supervise"). It adopts the one `up` started (pid file +
 * state-dir marker), restarts it to apply a new config, and restarts it when it dies.
 *
 * nutcracker 0.5.0 cannot reload, and without SO_REUSEPORT the new process can bind only once the old one is
 * gone, so the shortest gap is: SIGTERM (nutcracker dies at once: no handler), poll for the PID to be gone
 * every millisecond (a zombie counts as gone: its sockets are closed), spawn, poll the listen port every 2 ms.
 */
export class ProxySupervisor {
  private pid: number | null = null;
  private child: Spawned | null = null;

  constructor(private readonly topo: Topology) {}

  /** The PID of the running nutcracker of this state dir, re-read from its pid file (notify may have replaced it). */
  current(): number | null {
    if (this.pid !== null && isAlive(this.pid)) {
      const filed = readPidFile(proxyPaths(this.topo.proxyDir).pid);
      if (filed === null || filed === this.pid) return this.pid;
    }
    const adopted = ourPid(proxyPaths(this.topo.proxyDir).pid, this.topo.stateDir);
    if (adopted !== this.pid) this.child = null;
    this.pid = adopted;
    return adopted;
  }

  /**
   * Whether the running nutcracker was started on a config with this content: exact when the agent started it
   * (the sha is in its environment); otherwise (started by `up`) by time, the file being no newer than the process.
   */
  runsConfig(pid: number, sha: string, confPath: string): boolean {
    const stamped = envOf(pid)[CONF_SHA_ENV];
    if (stamped !== undefined) return stamped === sha;
    const started = processStartMs(pid);
    if (started === null) return true;
    try {
      // 100 ms of slack: start times come from clock ticks (10 ms) and /proc/uptime (10 ms).
      return statSync(confPath).mtimeMs <= started + 100;
    } catch {
      return true;
    }
  }

  /** Stops the running nutcracker, if any (a reshard's cut, under the apply lock, before the new config starts it). */
  async stop(): Promise<void> {
    const old = this.current();
    if (old !== null) await this.kill(old);
  }

  /** Stops the running nutcracker (if any) and starts one on the config file; resolves once it accepts connections. */
  async restart(sha: string): Promise<RestartTimings> {
    const t0 = performance.now();
    const old = this.current();
    if (old !== null) await this.kill(old);
    const t1 = performance.now();
    // If something else still listens there (a nutcracker nobody tracks), the new one would fail to bind and
    // exit, while the old one went on answering with the old addresses: refuse instead, and say so.
    // The kernel can take a moment after the old process is reaped before the address binds again: a holder
    // that stays past 300 ms is not that.
    const { host, port } = mustParseAddress(this.topo.proxy.listen);
    const free = await waitFor(() => canBind(host, port), { timeoutMs: 300, intervalMs: 2, what: `${this.topo.proxy.listen} to be free` }).catch(() => false);
    if (!free) {
      throw new EnvironmentError(`${this.topo.proxy.listen} is held by a process that is not the supervised nutcracker; stop it (ss -ltnp) so the proxy can be restarted`);
    }
    const spawned = await spawnNutcracker(this.topo, { env: { [CONF_SHA_ENV]: sha } });
    this.pid = spawned.pid;
    this.child = spawned;
    await waitNutcrackerListening(this.topo, spawned, 5000);
    const t2 = performance.now();
    return { stopMs: round(t1 - t0), startMs: round(t2 - t1), pid: spawned.pid };
  }

  private async kill(pid: number): Promise<void> {
    // Only the handle of this very process says when it is gone; one of an earlier nutcracker resolved long ago.
    const child = this.child?.pid === pid ? this.child : null;
    // nutcracker has no SIGTERM handler and dies at once; looking every millisecond keeps the gap short. Bounded:
    // a nutcracker that will not die fails this restart with an error instead of wedging the apply chain.
    await stopPid(pid, { graceMs: 2000, killWaitMs: 3000, pollMs: 1, ...(child ? { exited: child.exited } : {}) });
  }
}

function envOf(pid: number): Record<string, string> {
  try {
    const out: Record<string, string> = {};
    for (const kv of readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0')) {
      const i = kv.indexOf('=');
      if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
    }
    return out;
  } catch {
    return {};
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
