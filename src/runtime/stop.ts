import { setTimeout as sleep } from 'node:timers/promises';
import { readProcStat } from '../engine/index.js';
import { EnvironmentError } from '../errors.js';
import { isAlive } from './process.js';

/**
 * The one way a process of ours is stopped: SIGTERM, a grace period, SIGKILL, and a bound after which we give up
 * with an error instead of waiting (a process in D state can outlive SIGKILL for as long as its I/O hangs; an
 * unbounded wait there would wedge whatever waits on us, e.g. the agent's apply chain). One AbortController per
 * stop owns its timers, so nothing of it outlives the call.
 */

export interface StopOptions {
  /** Time between SIGTERM and SIGKILL. Default 10 s. */
  graceMs?: number;
  /** How long to wait for the process to be gone after SIGKILL before giving up with an error. Default 5 s. */
  killWaitMs?: number;
  /** How often to look. Default 10 ms; the agent's proxy restart uses 1 ms, every millisecond being downtime. */
  pollMs?: number;
  /** The child's own exit, when we spawned it: a zombie we have not reaped is gone for our purposes. */
  exited?: Promise<unknown>;
  /** Start with SIGKILL (failure scenarios): no grace. */
  immediateKill?: boolean;
}

export interface Stopped {
  pid: number;
  /** not-running: nothing to signal; exited: gone after SIGTERM; killed: gone after SIGKILL. */
  how: 'not-running' | 'exited' | 'killed';
  ms: number;
}

/** A process that is still there after SIGKILL and the bound: someone must look at it (ps -o stat,wchan). */
export class ProcessStuckError extends EnvironmentError {}

export async function stopPid(pid: number, opts: StopOptions = {}): Promise<Stopped> {
  const t0 = performance.now();
  const ac = new AbortController();
  let exited = false;
  void opts.exited?.then(() => (exited = true));
  const gone = () => exited || !isAlive(pid);
  const pollMs = opts.pollMs ?? 10;
  const waitGone = async (ms: number): Promise<boolean> => {
    const deadline = performance.now() + ms;
    while (!gone()) {
      if (performance.now() >= deadline) return false;
      await sleep(pollMs, undefined, { signal: ac.signal });
    }
    return true;
  };
  const done = (how: Stopped['how']): Stopped => ({ pid, how, ms: Math.round((performance.now() - t0) * 10) / 10 });
  try {
    if (!opts.immediateKill) {
      if (!send(pid, 'SIGTERM')) return done('not-running');
      if (await waitGone(opts.graceMs ?? 10_000)) return done('exited');
    }
    if (!send(pid, 'SIGKILL') && opts.immediateKill) return done('not-running');
    const bound = opts.killWaitMs ?? 5000;
    if (await waitGone(bound)) return done('killed');
    const state = readProcStat(pid)?.state ?? '?';
    throw new ProcessStuckError(
      `process ${pid} is still there ${bound} ms after SIGKILL (state ${state}${state === 'D' ? ': waiting on I/O in the kernel' : ''}); gave up waiting for it`,
    );
  } finally {
    ac.abort();
  }
}

/**
 * SIGKILLs every PID back to back (no await between the signals, so "at once" means within microseconds), then
 * waits, bounded, until all are gone. Returns the time of the signals (performance.now() and wall clock).
 */
export async function killAtOnce(pids: readonly number[], killWaitMs = 5000): Promise<{ at: number; wallAt: number }> {
  const at = performance.now();
  const wallAt = Date.now();
  for (const pid of pids) send(pid, 'SIGKILL');
  await Promise.all(pids.map((pid) => stopPid(pid, { immediateKill: true, killWaitMs, pollMs: 5 })));
  return { at, wallAt };
}

function send(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}
