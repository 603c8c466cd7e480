import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { atomicWriteFile } from '../runtime/index.js';

/**
 * The phases of a reshard, in order. Everything before `committed` can be undone (`--abort`): the proxy still
 * serves the old ring and the sources still hold every key. From `committed` on, only forward.
 */
export const PHASES = ['planned', 'shard-started', 'copying', 'cutting', 'committed', 'cleaning', 'done'] as const;
export type Phase = (typeof PHASES)[number] | 'aborted';

export interface ReshardProgress {
  keysCopied: number;
  bytesCopied: number;
  keysDeleted: number;
  passes: number;
  keysCleaned: number;
}

/** What is recorded durably: enough for `--resume` in another process to go on from the phase it names. */
export interface ReshardState {
  version: 1;
  /** Grows by one per reshard of this state dir; names temp keys and events. */
  epoch: number;
  phase: Phase;
  startedAt: string;
  updatedAt: string;
  /** The description file the new ring comes from. */
  descriptionFile: string | null;
  /** The proxy config (nutcracker.yml text) of the old ring, as it was live when the reshard began. */
  oldYml: string;
  /** The proxy config of the new ring, with the addresses current at the plan (the cut re-bases addresses). */
  newYml: string;
  pool: string;
  addedShards: string[];
  removedShards: string[];
  /** Instances of every shard involved (a removed shard's from the sentinels): what to configure, stop. */
  shardInstances: Record<string, string[]>;
  /** Shards that lose keys, and shards that gain keys. */
  sources: string[];
  destinations: string[];
  rateKeysPerSec: number | null;
  /** notify-keyspace-events of each instance before we changed it, to put back at the end. */
  notifyBefore: Record<string, string>;
  progress: ReshardProgress;
  /** Planned totals (the plan's counts). */
  planned: { keys: number; bytes: number };
  committedAt: string | null;
  /** The cut's pause, measured on the sources (ms), and how many cut attempts were made. */
  cut: { pauseMs: number | null; attempts: number };
  lastError: string | null;
}

export function reshardDir(stateDir: string): string {
  return join(stateDir, 'reshard');
}

export function statePath(stateDir: string): string {
  return join(reshardDir(stateDir), 'state.json');
}

export function readState(stateDir: string): ReshardState | null {
  const p = statePath(stateDir);
  if (!existsSync(p)) return null;
  return JSON.parse(readFileSync(p, 'utf8')) as ReshardState;
}

/** Atomic (temp file, fsync, rename): a kill at any moment leaves the old record or the new one. */
export function writeState(stateDir: string, s: ReshardState): void {
  s.updatedAt = new Date().toISOString();
  atomicWriteFile(statePath(stateDir), `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 });
}

/** A finished (done or aborted) reshard's record is kept beside, by epoch, and no longer counts as in progress. */
export function archiveState(stateDir: string, s: ReshardState): void {
  writeState(stateDir, s);
  mkdirSync(join(reshardDir(stateDir), 'history'), { recursive: true });
  renameSync(statePath(stateDir), join(reshardDir(stateDir), 'history', `epoch-${s.epoch}.json`));
}

/** The epoch for a new reshard: one more than the highest recorded. */
export function nextEpoch(stateDir: string): number {
  let max = 0;
  const cur = readState(stateDir);
  if (cur) max = cur.epoch;
  const hist = join(reshardDir(stateDir), 'history');
  if (existsSync(hist)) {
    for (const f of readdirSync(hist)) {
      const m = /^epoch-(\d+)\.json$/.exec(f);
      if (m) max = Math.max(max, Number(m[1]));
    }
  }
  return max + 1;
}

/** Whether a phase is before the point of no return. */
export function beforeCommit(p: Phase): boolean {
  return p === 'planned' || p === 'shard-started' || p === 'copying' || p === 'cutting';
}

/** Test hook, documented in docs/reshard.md: REDIS_SHARD_RESHARD_EXIT_AT=<phase> makes the process exit(137) on entering it. */
export function exitHook(phase: string): void {
  const at = process.env.REDIS_SHARD_RESHARD_EXIT_AT;
  if (at !== undefined && at === phase) process.kill(process.pid, 'SIGKILL');
}
