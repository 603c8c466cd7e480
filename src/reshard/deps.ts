import type { Topology } from '../topology/index.js';
import type { Phase } from './state.js';

/**
 * What the reshard needs from the layers above it (ops wires the agents' config appliers in). A description can
 * list several proxies: the cut switches every one of them (all on this host; ops refuses others), numbered
 * here 0..n-1 in the order their apply locks are taken. Proxy 0 is the description's first proxy; its live
 * config is "the" live config (every proxy serves the same ring, each with its own listen address and frontends).
 */
export interface ReshardDeps {
  /** The description with the new ring. */
  topo: Topology;
  /** The description as each proxy the cut switches sees it (topology proxyView): `views[0]` is `topo` with one proxy. */
  views: Topology[];
  password: string | null;
  /** The live proxy config text of proxy `proxy` (default 0). */
  liveYml(proxy?: number): string;
  /**
   * Where the proxy path sends each shard of this live proxy config of proxy `proxy` (default 0) now: its server
   * addresses, or in apply mode "haproxy" (whose server lines name HAProxy's frontends) the backend servers of
   * that proxy's haproxy.cfg.
   */
  liveMasters(liveText: string, proxy?: number): Record<string, string>;
  /** nutcracker -t on a text meant for proxy `proxy` (default 0): null when good, else the reason. */
  check(text: string, proxy?: number): Promise<string | null>;
  /**
   * Under every proxy's config-writer lock (each agent's apply lock, taken in proxy order): `fn` gets each proxy's
   * live config and returns each one's new text (null: no change for that proxy; null for all: none), which are
   * then all written and made to take effect (proxies restarted). Throws if one did not.
   * `addedMasters`: the masters of shards the live config does not have (mode haproxy gives them a frontend).
   */
  switchProxy(fn: (liveTexts: string[]) => Promise<Array<string | null> | null>, addedMasters: Record<string, string>): Promise<void>;
  /** Stops every supervised proxy; only called inside `switchProxy`'s fn (the locks keep the agents from restarting them). */
  stopProxy(): Promise<void>;
  /** Makes every proxy's agent read the description again (each follows failovers only of the shards it read). */
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
