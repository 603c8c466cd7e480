import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, readlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { readProcStat } from '../engine/index.js';
import { EnvironmentError } from '../errors.js';
import { atomicWriteFile } from './atomic-write.js';

/**
 * Every process redis-shard starts carries this variable with its state dir. It survives the process title
 * rewrites Redis does, so a pid file plus this marker tells our process from a stranger that reused the PID.
 */
export const STATE_ENV = 'REDIS_SHARD_STATE';

/**
 * Set (to "1") in the environment of an agent that systemd runs: systemd restarts HAProxy and nutcracker, so
 * the agent must not start them itself (a second one would fight systemd's for the ports); it only re-applies
 * the masters to whatever HAProxy comes back.
 */
export const UNDER_SYSTEMD_ENV = 'REDIS_SHARD_UNDER_SYSTEMD';

export interface SpawnOptions {
  bin: string;
  args: string[];
  logFile: string;
  pidFile?: string;
  cwd?: string;
  /** The state dir the process belongs to; stamped into its environment (STATE_ENV). */
  stateDir: string;
  env?: Record<string, string>;
}

export interface Spawned {
  pid: number;
  /** Resolves with the exit code/signal if the process ends; lets readiness waits fail fast. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts a process that outlives us: its own session, stdio to its log file, not waited for. Errors before
 * the spawn (missing binary, unwritable log) are reported, not thrown from an event later.
 */
export async function spawnDetached(opts: SpawnOptions): Promise<Spawned> {
  mkdirSync(dirname(opts.logFile), { recursive: true });
  const fd = openSync(opts.logFile, 'a', 0o640);
  // Redis and Sentinel rewrite their configs (which may hold the password) and write data with the umask
  // they inherit; 077 keeps all of it private to the user running the stack. The child takes the umask at
  // fork, inside this synchronous spawn(), so ours is restored right after.
  const previousUmask = process.umask(0o077);
  try {
    let child;
    try {
      child = spawn(opts.bin, opts.args, {
        cwd: opts.cwd,
        detached: true,
        stdio: ['ignore', fd, fd],
        env: { ...process.env, ...opts.env, [STATE_ENV]: opts.stateDir },
      });
    } finally {
      process.umask(previousUmask);
    }
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', (e) => reject(new EnvironmentError(`cannot start ${opts.bin}: ${e.message}`, { cause: e })));
      child.once('spawn', () => resolve(child.pid!));
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    child.unref();
    if (opts.pidFile) atomicWriteFile(opts.pidFile, `${pid}\n`);
    return { pid, exited };
  } finally {
    closeSync(fd);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !isZombie(pid);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isZombie(pid: number): boolean {
  return readProcStat(pid)?.state === 'Z';
}

export function readPidFile(path: string): number | null {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(n) && n > 1 ? n : null;
  } catch {
    return null;
  }
}

/**
 * True when `pid` is alive and was started by redis-shard for `stateDir`: its environment carries the marker,
 * or (Redis rewrites its process title over the memory /proc/PID/environ shows) its working directory is
 * inside the state dir, where every engine process is started.
 */
export function isOurProcess(pid: number, stateDir: string): boolean {
  if (!isAlive(pid)) return false;
  try {
    const env = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
    if (env.includes(`${STATE_ENV}=${stateDir}`)) return true;
  } catch {
    /* fall through to the cwd check */
  }
  try {
    const cwd = readlinkSync(`/proc/${pid}/cwd`);
    return cwd === stateDir || cwd.startsWith(`${stateDir}/`);
  } catch {
    return false;
  }
}

/** The PID in `pidFile` if that process is alive and ours, else null. */
export function ourPid(pidFile: string, stateDir: string): number | null {
  const pid = readPidFile(pidFile);
  return pid !== null && isOurProcess(pid, stateDir) ? pid : null;
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
