import { closeSync, existsSync, linkSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { readProcStat } from '../engine/index.js';
import { TransientError } from '../errors.js';
import { delay, isAlive } from './process.js';

/**
 * One command at a time changes a stack: up, down, services install/uninstall and reshard all take this lock on
 * the state dir. Without it two `up`s raced on the pid files and left processes nobody could stop.
 *
 * The lock is a file created with O_EXCL holding its owner (PID, start time in clock ticks, command, since).
 * A lock whose owner is dead, or whose PID now belongs to another process, is taken over. Another command
 * (only `down`, today) may ask the owner to stop: it writes the stop file, and the owner's `signal` aborts.
 *
 * `up --host H` and `down --host H` lock only host H's part (`.lock.host-H`): two hosts simulated on one machine
 * may share a state dir, and each host's `up` waits for replicas that the other host's `up` starts, so one lock
 * for both would hold each up until the other gave up. A whole-dir lock and a host lock exclude each other:
 * each side creates its own file first and then looks for the other kind, backing off when it finds one alive.
 */
export const STACK_LOCK_FILE = '.lock';
const STOP_FILE = '.lock.stop';

export interface StackLockHolder {
  pid: number;
  /** Start time of the owner in clock ticks since boot: with the PID, an identity that survives PID reuse. */
  ticks: number;
  /** The command that holds it: "up", "down", "services install", "reshard"... */
  command: string;
  /** ISO time the lock was taken. */
  since: string;
}

export interface StackLock {
  readonly holder: StackLockHolder;
  /** Aborted when another command asked this one to stop (see requestStop). */
  readonly signal: AbortSignal;
  release(): void;
}

export interface AcquireOptions {
  /** How long to wait for another command to finish before giving up (default 5000 ms). */
  waitMs?: number;
  /** Called once when the lock is held by someone else and this call starts waiting. */
  onWait?: (holder: StackLockHolder) => void;
  /**
   * Called once with the holder when it is one of these commands: it is asked to stop (its `signal` aborts),
   * and the wait becomes `stopWaitMs`. `down` uses this to end an `up` that is still starting.
   */
  askToStop?: { commands: string[]; stopWaitMs: number; onAsk?: (holder: StackLockHolder) => void };
  signal?: AbortSignal;
  /** Lock only this host's part of the state dir (up/down --host); absent: the whole state dir. */
  host?: string;
}

/** Locks taken by this process, so a lock file naming our own PID that none of them holds is known stale. */
const heldHere = new Set<string>();

export function stackLockPath(stateDir: string, host?: string): string {
  return join(stateDir, host === undefined ? STACK_LOCK_FILE : `${STACK_LOCK_FILE}${HOST_LOCK_INFIX}${host}`);
}

const HOST_LOCK_INFIX = '.host-';

/** A live holder of the other kind of lock (host locks for the whole-dir lock, and the reverse), if any. */
function otherKindHolder(stateDir: string, host: string | undefined): StackLockHolder | null {
  const paths =
    host !== undefined
      ? [stackLockPath(stateDir)]
      : readdirSync(stateDir).filter((n) => n.startsWith(`${STACK_LOCK_FILE}${HOST_LOCK_INFIX}`)).map((n) => join(stateDir, n));
  for (const p of paths) {
    const h = parseHolder(readText(p));
    if (h && !isStale(h, p)) return h;
  }
  return null;
}

/**
 * Takes the state dir's lock for `command`. The state dir must exist. Waits up to `waitMs` for a holder to
 * finish; then fails with a TransientError that names the holder (PID, command, since when).
 */
export async function acquireStackLock(stateDir: string, command: string, opts: AcquireOptions = {}): Promise<StackLock> {
  const path = stackLockPath(stateDir, opts.host);
  let deadline = Date.now() + (opts.waitMs ?? 5000);
  let waited = false;
  let asked = false;
  const me: StackLockHolder = { pid: process.pid, ticks: startTicks(process.pid) ?? 0, command, since: new Date().toISOString() };
  for (;;) {
    let created = false;
    if (!heldHere.has(path)) {
      try {
        const fd = openSync(path, 'wx', 0o600);
        try {
          writeSync(fd, `${JSON.stringify(me)}\n`);
        } finally {
          closeSync(fd);
        }
        heldHere.add(path);
        created = true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
    let holder: StackLockHolder | null;
    if (created) {
      holder = otherKindHolder(stateDir, opts.host);
      if (holder === null) return makeLock(stateDir, path, me);
      // The other kind is held: give ours back and wait like for any holder.
      heldHere.delete(path);
      rmSync(path, { force: true });
    } else {
      const text = readText(path);
      holder = parseHolder(text);
      if (text !== null && isStale(holder, path)) {
        takeOver(path, text);
        continue;
      }
    }
    if (holder && opts.askToStop && !asked && opts.askToStop.commands.includes(holder.command)) {
      asked = true;
      requestStop(stateDir, holder);
      opts.askToStop.onAsk?.(holder);
      deadline = Date.now() + opts.askToStop.stopWaitMs;
    } else if (holder && !waited) {
      waited = true;
      opts.onWait?.(holder);
    }
    if (opts.signal?.aborted) throw new TransientError(`interrupted while waiting for the lock on ${stateDir}`);
    if (Date.now() > deadline) {
      throw new TransientError(
        holder
          ? `${describeHolder(holder)} holds the lock on ${stateDir}; wait for it to finish (or stop it), then run ${command} again; nothing was changed`
          : `the lock on ${stateDir} (${path}) is held; run ${command} again; nothing was changed`,
      );
    }
    // Jitter: a whole-dir lock and a host lock that keep meeting back off at different moments.
    await delay(40 + Math.floor(Math.random() * 30));
  }
}

/** "up (pid 1234, since 2026-12-01T21:00:00Z)" */
export function describeHolder(h: StackLockHolder): string {
  return `${h.command} (pid ${h.pid}, since ${h.since})`;
}

/** Who holds the lock now, if anyone alive does. */
export function stackLockHolder(stateDir: string): StackLockHolder | null {
  const path = stackLockPath(stateDir);
  const text = readText(path);
  if (text === null) return null;
  const h = parseHolder(text);
  return h && !isStale(h, path) ? h : null;
}

/** Asks the holder of the lock to stop: its lock's `signal` aborts within ~100 ms. */
function requestStop(stateDir: string, holder: StackLockHolder): void {
  const fd = openSync(join(stateDir, STOP_FILE), 'w', 0o600);
  try {
    writeSync(fd, `${holder.pid} ${holder.ticks}\n`);
  } finally {
    closeSync(fd);
  }
}

function makeLock(stateDir: string, path: string, me: StackLockHolder): StackLock {
  const ac = new AbortController();
  const stopFile = join(stateDir, STOP_FILE);
  // A request left for an earlier owner of this PID is not for us.
  rmSync(stopFile, { force: true });
  const timer = setInterval(() => {
    const t = readText(stopFile);
    if (t !== null && t.trim() === `${me.pid} ${me.ticks}`) {
      ac.abort(new TransientError('another command asked this one to stop'));
      clearInterval(timer);
    }
  }, 100);
  timer.unref();
  let released = false;
  return {
    holder: me,
    signal: ac.signal,
    release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      heldHere.delete(path);
      if (parseHolder(readText(path))?.pid === me.pid) rmSync(path, { force: true });
      const t = readText(stopFile);
      if (t !== null && t.trim() === `${me.pid} ${me.ticks}`) rmSync(stopFile, { force: true });
    },
  };
}

function isStale(holder: StackLockHolder | null, path: string): boolean {
  if (holder === null) return existsSync(path) && ageMs(path) > 2000; // created, never filled in: its creator died
  if (holder.pid === process.pid) return !heldHere.has(path);
  if (!isAlive(holder.pid)) return true;
  return holder.ticks !== 0 && startTicks(holder.pid) !== holder.ticks;
}

/**
 * Removes a stale lock without removing a fresh one another waiter created meanwhile: the file is moved to a
 * private name first, and put back if what was moved is not the stale content that was judged.
 */
function takeOver(path: string, staleText: string): void {
  const mine = `${path}.${process.pid}.stale`;
  try {
    renameSync(path, mine);
  } catch {
    return;
  }
  if (readText(mine) !== staleText) {
    try {
      linkSync(mine, path);
    } catch {
      /* a third process holds it now */
    }
  }
  rmSync(mine, { force: true });
}

function parseHolder(text: string | null): StackLockHolder | null {
  if (text === null) return null;
  try {
    const o = JSON.parse(text) as Partial<StackLockHolder>;
    if (typeof o.pid !== 'number' || typeof o.command !== 'string') return null;
    return { pid: o.pid, ticks: typeof o.ticks === 'number' ? o.ticks : 0, command: o.command, since: String(o.since ?? '?') };
  } catch {
    return null;
  }
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** A process's start time in clock ticks since boot (/proc/PID/stat field 22). */
function startTicks(pid: number): number | null {
  return readProcStat(pid)?.startTicks ?? null;
}
