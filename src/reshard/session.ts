import type { Redis } from 'ioredis';
import { redisClient, withClient, writeExpectedRings } from '../runtime/index.js';
import type { ShardSpec, Topology } from '../topology/index.js';
import { RateLimiter, type CopyResult } from './copy.js';
import type { ReshardDeps } from './deps.js';
import { waitMaster } from './masters.js';
import { liveIsNewRing, placement, type Placement } from './rings.js';
import { exitHook, writeState, type Phase, type ReshardState } from './state.js';
import { DirtyTracker } from './tracker.js';

/**
 * What one process run of a reshard holds: the record, the placement, a connection per shard's master, the dirty
 * trackers, progress. The phases build on it, one module each (copy-pass, cut, cleanup) and the state machine
 * (runner.ts) on top: a chain of classes only so that each phase's code sits in its own file.
 */
export class RunnerSession {
  protected readonly place: Placement;
  protected readonly masters = new Map<string, string>();
  protected readonly clients = new Map<string, Redis>();
  protected readonly trackers = new Map<string, DirtyTracker>();
  protected readonly limiter: RateLimiter;
  protected readonly db: number;
  protected readonly tmpPrefix: string;
  protected readonly t0 = Date.now();
  protected progressAt = 0;
  protected readonly copiedAtStart: { keys: number; bytes: number };

  constructor(
    protected readonly deps: ReshardDeps,
    protected readonly state: ReshardState,
    /** Resumed (or aborting): destinations may hold copies from an earlier process, checked on each pass. */
    protected readonly resumed: boolean,
  ) {
    this.place = placement(state.oldYml, state.newYml, state.pool);
    this.limiter = new RateLimiter(state.rateKeysPerSec);
    this.db = deps.topo.proxy.redis_db ?? 0;
    this.tmpPrefix = `__redis-shard:reshard:${state.epoch}:tmp:`;
    this.copiedAtStart = { keys: state.progress.keysCopied, bytes: state.progress.bytesCopied };
  }


  protected get topo(): Topology {
    return this.deps.topo;
  }


  protected setPhase(p: Phase): void {
    this.state.phase = p;
    writeState(this.topo.stateDir, this.state);
    this.deps.emit({ type: 'phase', phase: p, epoch: this.state.epoch });
    exitHook(p);
  }


  /** A topology that knows every shard involved, removed ones too (for asking the sentinels). */
  protected allShards(): ShardSpec[] {
    const out = [...this.topo.shards];
    for (const r of this.state.removedShards) {
      out.push({ name: r, master: this.state.shardInstances[r]![0]!, instances: this.state.shardInstances[r]!, weight: 1 });
    }
    return out;
  }


  protected async master(shard: string, fresh = false): Promise<string> {
    if (!fresh && this.masters.has(shard)) return this.masters.get(shard)!;
    const topo = { ...this.topo, shards: this.allShards() };
    const m = await waitMaster(topo, shard, this.deps.password);
    if (this.masters.get(shard) !== m) {
      this.clients.get(shard)?.disconnect();
      this.clients.delete(shard);
    }
    this.masters.set(shard, m);
    return m;
  }

  protected readonly connecting = new Map<string, Promise<Redis>>();


  /** One connection per shard's current master; concurrent callers share the one being made. */
  protected async client(shard: string): Promise<Redis> {
    const have = this.clients.get(shard);
    if (have) return have;
    let p = this.connecting.get(shard);
    if (!p) {
      p = (async () => {
        const c = redisClient(await this.master(shard), this.deps.password, { timeoutMs: 30_000 });
        try {
          await c.connect();
        } catch (e) {
          c.disconnect();
          throw e;
        }
        this.clients.set(shard, c);
        return c;
      })().finally(() => this.connecting.delete(shard));
      this.connecting.set(shard, p);
    }
    return p;
  }


  protected closeAll(): void {
    for (const t of this.trackers.values()) t.close();
    this.trackers.clear();
    for (const c of this.clients.values()) c.disconnect();
    this.clients.clear();
  }


  /** Keyspace events on every instance of every source (replicas too: a promoted one publishes from its first write). */
  protected async enableEvents(): Promise<void> {
    for (const s of this.state.sources) {
      for (const addr of this.state.shardInstances[s] ?? []) {
        await withClient(addr, this.deps.password, async (c) => {
          const [, before] = (await c.config('GET', 'notify-keyspace-events')) as string[];
          if (!(addr in this.state.notifyBefore)) this.state.notifyBefore[addr] = before ?? '';
          await c.config('SET', 'notify-keyspace-events', 'KA');
          // A subscriber that falls behind a burst of writes must not be cut off at the default 32mb.
          await c.config('SET', 'client-output-buffer-limit', 'pubsub 1gb 512mb 120');
        }, { timeoutMs: 2000 }).catch((e) => {
          const replica = addr !== this.masters.get(s);
          if (!replica) throw e;
        });
      }
    }
    writeState(this.topo.stateDir, this.state);
  }


  protected async restoreEvents(addrs: string[]): Promise<void> {
    for (const addr of addrs) {
      const before = this.state.notifyBefore[addr];
      if (before === undefined) continue;
      await withClient(addr, this.deps.password, async (c) => {
        await c.config('SET', 'notify-keyspace-events', before);
        await c.config('SET', 'client-output-buffer-limit', 'pubsub 33554432 8388608 60');
      }, { timeoutMs: 2000 }).catch(() => {});
    }
  }


  protected async track(shard: string): Promise<DirtyTracker> {
    this.trackers.get(shard)?.close();
    const addr = await this.master(shard);
    const t = new DirtyTracker(shard, addr, this.deps.password, this.db, (k) => this.place.oldOwner(k) === shard && this.place.newOwner(k) !== shard);
    await t.start();
    this.trackers.set(shard, t);
    return t;
  }


  protected count(r: CopyResult): void {
    const p = this.state.progress;
    p.keysCopied += r.copied;
    p.bytesCopied += r.bytes;
    p.keysDeleted += r.deleted;
    const now = Date.now();
    if (now - this.progressAt >= 250) {
      this.progressAt = now;
      this.emitProgress();
    }
  }


  protected emitProgress(): void {
    const p = this.state.progress;
    const secs = Math.max((Date.now() - this.t0) / 1000, 0.001);
    let dirty = 0;
    for (const t of this.trackers.values()) dirty += t.dirty.size;
    this.deps.emit({
      type: 'progress', phase: this.state.phase, keysCopied: p.keysCopied, bytesCopied: p.bytesCopied, keysDeleted: p.keysDeleted,
      plannedKeys: this.state.planned.keys,
      keysPerSec: Math.round((p.keysCopied - this.copiedAtStart.keys) / secs),
      bytesPerSec: Math.round((p.bytesCopied - this.copiedAtStart.bytes) / secs),
      dirty,
    });
  }


  protected closeTrackers(): void {
    for (const t of this.trackers.values()) t.close();
    this.trackers.clear();
  }


  /**
   * Whether any proxy's live config already has the new ring (the commit happened, whatever the record says): the
   * cut writes them one after another, so a crash between two writes leaves some on each ring.
   */
  liveIsNewRing(): boolean {
    return liveIsNewRing(this.deps, this.state);
  }


  protected recordCommit(): void {
    if (this.state.phase === 'committed') return;
    this.state.phase = 'committed';
    this.state.committedAt = new Date().toISOString();
    writeState(this.topo.stateDir, this.state);
    writeExpectedRings(this.topo.stateDir, [this.state.newYml]);
    this.deps.emit({ type: 'phase', phase: 'committed', epoch: this.state.epoch });
    exitHook('committed');
  }
}
