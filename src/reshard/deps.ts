import type { Topology } from '../topology/index.js';
import type { Phase } from './state.js';

/** What the reshard needs from the layers above it (ops wires the agent's config applier in). */
export interface ReshardDeps {
  /** The description with the new ring. */
  topo: Topology;
  password: string | null;
  /** The live proxy config text. */
  liveYml(): string;
  /**
   * Where the proxy path sends each shard of this live proxy config now: its server addresses, or in apply mode
   * "haproxy" (whose server lines name HAProxy's frontends) the backend servers of haproxy.cfg.
   */
  liveMasters(liveText: string): Record<string, string>;
  /** nutcracker -t on a text: null when good, else the reason. */
  check(text: string): Promise<string | null>;
  /**
   * Under the one config-writer lock (the agent's apply lock): `fn` gets the live config, returns the new text (or
   * null: no change), which is then written and made to take effect (proxy restarted). Throws if it did not.
   * `addedMasters`: the masters of shards the live config does not have (mode haproxy gives them a frontend).
   */
  switchProxy(fn: (liveText: string) => Promise<string | null>, addedMasters: Record<string, string>): Promise<void>;
  /** Stops the supervised proxy; only called inside `switchProxy`'s fn (the lock keeps the agent from restarting it). */
  stopProxy(): Promise<void>;
  /** Makes the agent read the description again (it follows failovers only of the shards it read). */
  restartAgent(): Promise<void>;
  emit(e: ReshardEvent): void;
}

export type ReshardEvent =
  | { type: 'phase'; phase: Phase; epoch: number }
  | { type: 'progress'; phase: Phase; keysCopied: number; bytesCopied: number; keysDeleted: number; plannedKeys: number; keysPerSec: number; bytesPerSec: number; dirty: number }
  | { type: 'repass'; shard: string; reason: string }
  | { type: 'cut'; attempt: number; pauseMs: number; drained: number; mode: 'pause' | 'proxy-stop'; drainMs: number; pausedAtEpochMs: number }
  | { type: 'cut-retry'; attempt: number; reason: string }
  | { type: 'cleanup'; shard: string; keysRemoved: number }
  | { type: 'shard-started'; shard: string }
  | { type: 'shard-removed'; shard: string; stopped: string[]; removedDirs: string[] }
  | { type: 'info'; message: string };
