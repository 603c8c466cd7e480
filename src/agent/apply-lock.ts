import { closeSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { readProcStat } from '../engine/index.js';
import { TransientError } from '../errors.js';
import { isAlive } from '../runtime/index.js';

/**
 * An exclusive lock between processes of one state dir (the agent and `notify`): a file created with O_EXCL
 * holding the owner's PID. A lock whose owner is dead is taken over.
 */
export class ApplyLock {
  private constructor(private readonly path: string) {}

  static async acquire(path: string, timeoutMs: number): Promise<ApplyLock> {
    mkdirSync(dirname(path), { recursive: true });
    const deadline = Date.now() + timeoutMs;
    // The owner is recorded with its start time, so a PID reused by another process does not hold the lock forever.
    const myTicks = startTicks(process.pid) ?? 0;
    const me = `${process.pid} ${myTicks}\n`;
    for (;;) {
      try {
        const fd = openSync(path, 'wx', 0o600);
        writeSync(fd, me);
        closeSync(fd);
        return new ApplyLock(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const seen = readText(path);
      const owner = parseOwner(seen);
      const stale =
        owner !== null
          ? owner.pid === process.pid
            ? // Our PID with another start time: an earlier process that had our PID (a restart in a fresh PID
              // namespace reuses low PIDs) died holding it. With our own start time, it is this process: wait.
              owner.ticks !== 0 && myTicks !== 0 && owner.ticks !== myTicks
            : !isAlive(owner.pid) || (owner.ticks !== 0 && startTicks(owner.pid) !== owner.ticks)
          : seen !== null && ageMs(path) > 2000; // created but never filled in: the creator died between open and write
      if (stale && seen !== null) {
        takeOver(path, seen);
        continue;
      }
      if (Date.now() > deadline) throw new TransientError(`another process (pid ${owner?.pid ?? '?'}) is applying a proxy config; try again`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  release(): void {
    if (parseOwner(readText(this.path))?.pid === process.pid) rmSync(this.path, { force: true });
  }
}

/**
 * Removes a stale lock without removing a fresh one that another waiter created meanwhile: the file is moved
 * to a private name first, and put back if what was moved is not the stale content that was judged.
 */
function takeOver(path: string, staleText: string): void {
  const mine = `${path}.${process.pid}.stale`;
  try {
    renameSync(path, mine);
  } catch {
    return; // someone else took it over first
  }
  if (readText(mine) !== staleText) {
    try {
      linkSync(mine, path);
    } catch {
      /* a third process holds it now; ours was the older claim */
    }
  }
  rmSync(mine, { force: true });
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function parseOwner(text: string | null): { pid: number; ticks: number } | null {
  const m = /^(\d+)(?:\s+(\d+))?\s*$/.exec(text ?? '');
  return m ? { pid: Number(m[1]), ticks: Number(m[2] ?? 0) } : null;
}

/** A process's start time in clock ticks since boot: with the PID, an identity. */
function startTicks(pid: number): number | null {
  return readProcStat(pid)?.startTicks ?? null;
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}
