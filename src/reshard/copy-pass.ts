import { mustParseAddress } from '../topology/index.js';
import { copyKeys, noneCopied, scanAll, scanPipelined, type MigrateTarget } from './copy.js';
import { entryKey, RdbUnsupported } from './rdb-reader.js';
import { readSnapshot } from './rdb-sync.js';
import { RestoreWriter } from './restore-writer.js';
import { snapshotReplica, withSnapshotSettings } from './snapshot-source.js';
import { RunnerSession } from './session.js';
import { writeState } from './state.js';

/** Lost subscription or a changed master: the source's copy starts over. */
class RepassNeeded extends Error {}

/** Keys per read script (and per group of MIGRATEs). */
const COPY_BATCH = 1000;
/**
 * A value over this many bytes in a snapshot is not RESTOREd from it (one RESTORE that size would hold its
 * destination for milliseconds): it is copied from the live source afterwards, in pieces if it is long.
 */
const SNAPSHOT_BIG_BYTES = 1_000_000;
/** RESTOREs sent to a destination and not yet answered, at most (about 2-3 MB of small keys). */
const SNAPSHOT_IN_FLIGHT = 20_000;

/** The copy: a full pass over each source, then dirty keys again until few are left (failover-aware). */
export class CopyPhase extends RunnerSession {
  /** Sources whose snapshot could not be read (RdbUnsupported): their passes go key by key. */
  private readonly keyByKey = new Set<string>();

  /**
   * Copies keys (grouped by their new owner) from a source. `viaMigrate`: keys without expiry go by MIGRATE from
   * the source (not while the sources are paused: MIGRATE is a write).
   */
  protected async copyFrom(source: string, keys: Buffer[], rateLimited: boolean, viaMigrate: boolean): Promise<void> {
    const groups = new Map<string, Buffer[]>();
    for (const k of keys) {
      const to = this.place.newOwner(k);
      if (to === source) continue;
      const g = groups.get(to) ?? [];
      g.push(k);
      groups.set(to, g);
    }
    const src = await this.client(source);
    // Batches of up to 1000 keys, up to 4 in flight on the same connections: round trips overlap, while each
    // read script (about a microsecond a key) and each MIGRATE (bounded by bytes) stays short on the source.
    const batches: Array<{ to: string; part: Buffer[] }> = [];
    for (const [to, g] of groups) for (let i = 0; i < g.length; i += COPY_BATCH) batches.push({ to, part: g.slice(i, i + COPY_BATCH) });
    for (let i = 0; i < batches.length; i += 4) {
      await Promise.all(
        batches.slice(i, i + 4).map(async ({ to, part }) => {
          if (rateLimited) await this.limiter.take(part.length);
          const target = viaMigrate && this.migrateSafe() ? await this.migrateTarget(to) : null;
          this.count(await copyKeys(src, await this.client(to), part, this.tmpPrefix, target));
        }),
      );
    }
  }


  /**
   * MIGRATE blocks its source until the target has answered. When a shard both gives and takes keys (hash,
   * distribution, hash_tag or weight changes), two shards would MIGRATE to each other at once and each wait on the
   * other until the timeout, long enough for Sentinel to fail both over (seen in a test). MIGRATE only when no
   * source is also a destination (a shard added or removed); otherwise every key goes by DUMP/RESTORE through us.
   */
  protected migrateSafe(): boolean {
    return !this.state.sources.some((s) => this.state.destinations.includes(s));
  }

  /** The destination's master as MIGRATE on a source reaches it. */
  protected async migrateTarget(shard: string): Promise<MigrateTarget> {
    const { host, port } = mustParseAddress(await this.master(shard));
    return { host, port, db: this.db, password: this.deps.password, timeoutMs: 5000 };
  }


  /**
   * One full pass over a source: every key that leaves it is copied; with `reconcile`, copies at the
   * destinations whose source key is gone are removed first (they may come from an earlier pass or process).
   */
  protected async passSource(source: string, reconcile: boolean): Promise<void> {
    const src = await this.client(source);
    if (reconcile) {
      for (const dest of this.state.destinations) {
        if (dest === source) continue;
        const dst = await this.client(dest);
        await scanAll(dst, async (keys) => {
          const mine = keys.filter((k) => this.place.oldOwner(k) === source && this.place.newOwner(k) === dest && !k.toString('latin1').startsWith(this.tmpPrefix));
          if (mine.length === 0) return;
          const p = src.pipeline();
          for (const k of mine) p.exists(k);
          const r = (await p.exec()) ?? [];
          const gone = mine.filter((_, i) => Number(r[i]?.[1]) === 0);
          if (gone.length > 0) {
            await dst.unlink(...gone);
            this.state.progress.keysDeleted += gone.length;
          }
        });
      }
    }
    if (this.state.rateKeysPerSec === null && !this.keyByKey.has(source)) {
      try {
        if (await this.snapshotPass(source)) {
          this.state.progress.passes++;
          writeState(this.topo.stateDir, this.state);
          return;
        }
      } catch (e) {
        if (!(e instanceof RdbUnsupported)) throw e;
        this.keyByKey.add(source);
        this.deps.emit({ type: 'info', message: `shard ${source}: no snapshot (${e.message}); copying key by key` });
      }
    }
    // Pages of 2000 keys, 3 being copied while the next is fetched: SCAN, the read script and MIGRATE overlap.
    await scanPipelined(src, async (keys) => {
      const t = this.trackers.get(source);
      if (!t || t.lost) throw new RepassNeeded(`lost the keyspace subscription of ${source}`);
      const moving = keys.filter((k) => this.place.newOwner(k) !== source);
      if (moving.length > 0) await this.copyFrom(source, moving, true, true);
    }, 2000, 3);
    this.state.progress.passes++;
    writeState(this.topo.stateDir, this.state);
  }


  /**
   * An unthrottled pass from a snapshot: a replica of the source (in sync with it since the keyspace subscription
   * began) sends a full-sync RDB; every key that leaves the source goes straight from it to its new owner (strings
   * as MSET or SET ... PXAT, sets of strings as SADD, anything else as RESTORE ... ABSTTL: the same absolute
   * expiry; RestoreWriter.addEntry). No command per key on the
   * source and none of the data through a client library: the source's cost is the replica's fork. Keys written
   * meanwhile are dirty and copied again afterwards, as after a key-by-key pass. Values over SNAPSHOT_BIG_BYTES go
   * from the live source after. False when no replica is in sync (the caller goes key by key).
   */
  protected async snapshotPass(source: string): Promise<boolean> {
    const masterAddr = await this.master(source);
    const replica = await snapshotReplica(await this.client(source), masterAddr, this.state.shardInstances[source] ?? [], this.deps.password);
    if (replica === null) {
      this.deps.emit({ type: 'info', message: `shard ${source}: no replica in sync with ${masterAddr} to read a snapshot from; copying key by key` });
      return false;
    }
    const t0 = performance.now();
    const writers = new Map<string, RestoreWriter>();
    const deferred: Buffer[] = [];
    let r = noneCopied();
    let total = 0;
    let now = Date.now();
    try {
      for (const d of this.state.destinations) {
        if (d !== source) writers.set(d, await RestoreWriter.open(await this.master(d), this.deps.password, this.db, 5000));
      }
      const { bytes } = await withSnapshotSettings(replica, this.deps.password, () =>
        readSnapshot(replica, this.deps.password, 30_000, (e, version) => {
          if (e.db !== this.db) return;
          const to = this.place.newOwner(e.keyBuf, e.keyStart, e.keyEnd);
          if (to === source) return;
          const w = writers.get(to);
          if (w === undefined || e.end - e.start > SNAPSHOT_BIG_BYTES) {
            deferred.push(entryKey(e));
            return;
          }
          r.bytes += w.addEntry(e, version, now);
          r.copied++;
        }, async () => {
          const t = this.trackers.get(source);
          if (!t || t.lost) throw new RepassNeeded(`lost the keyspace subscription of ${source}`);
          for (const w of writers.values()) await w.drain(SNAPSHOT_IN_FLIGHT);
          total += r.copied;
          this.count(r);
          r = noneCopied();
          now = Date.now();
        }),
      );
      for (const w of writers.values()) await w.drain(0);
      this.deps.emit({
        type: 'info',
        message: `shard ${source}: snapshot of ${(bytes / 1e6).toFixed(1)} MB from replica ${replica}, ${total} keys restored in ${Math.round(performance.now() - t0)} ms${deferred.length > 0 ? `, ${deferred.length} big ones copied from the source` : ''}`,
      });
    } finally {
      for (const w of writers.values()) w.close();
    }
    for (let i = 0; i < deferred.length; i += COPY_BATCH) await this.copyFrom(source, deferred.slice(i, i + COPY_BATCH), false, true);
    return true;
  }


  /** A source's pass, retried from the start after a lost subscription or a failover (of it or of a destination). */
  protected async passWithRetry(source: string, reconcile: boolean): Promise<void> {
    let again = reconcile;
    for (let attempt = 1; ; attempt++) {
      try {
        if (!this.trackers.get(source) || this.trackers.get(source)!.lost) await this.track(source);
        await this.passSource(source, again);
        return;
      } catch (e) {
        if (attempt >= 20) throw e;
        this.deps.emit({ type: 'repass', shard: source, reason: (e as Error).message });
        await this.refreshAfterFault();
        again = true;
      }
    }
  }


  /** After an error: masters asked again; a changed master's client and subscription are redone. */
  protected async refreshAfterFault(): Promise<void> {
    await new Promise((r) => setTimeout(r, 200));
    for (const shard of [...new Set([...this.state.sources, ...this.state.destinations])]) {
      const before = this.masters.get(shard);
      const now = await this.master(shard, true);
      if (before !== now) {
        this.deps.emit({ type: 'info', message: `shard ${shard}: master is now ${now} (was ${before ?? 'unknown'})` });
        if (this.trackers.has(shard)) this.trackers.get(shard)!.lost = true;
        // A destination that failed over may have lost copies that had not reached its replica: every source
        // that sends to it copies again.
        if (this.state.destinations.includes(shard)) for (const s of this.state.sources) if (this.trackers.has(s)) this.trackers.get(s)!.lost = true;
      }
    }
    for (const c of this.clients.values()) c.disconnect();
    this.clients.clear();
  }


  /** Copies every dirty key once. Returns how many were taken. `viaMigrate` off while the sources are paused. */
  protected async drainOnce(rateLimited: boolean, viaMigrate: boolean): Promise<number> {
    let n = 0;
    await Promise.all(
      [...this.trackers.values()].map(async (t) => {
        for (;;) {
          const keys = t.take(1000);
          if (keys.length === 0) return;
          n += keys.length;
          await this.copyFrom(t.shard, keys, rateLimited, viaMigrate);
        }
      }),
    );
    return n;
  }


  /** Re-copies dirty keys until few are left (or the writers outpace us for a while: then the cut drains the rest). */
  protected async dirtyUntilSmall(): Promise<void> {
    for (let round = 0; round < 50; round++) {
      for (const s of this.state.sources) if (this.trackers.get(s)?.lost) await this.passWithRetry(s, true);
      await Promise.all([...this.trackers.values()].map((t) => t.barrier()));
      let dirty = 0;
      for (const t of this.trackers.values()) dirty += t.dirty.size;
      if (dirty <= 200) return;
      try {
        await this.drainOnce(true, true);
      } catch (e) {
        this.deps.emit({ type: 'repass', shard: '*', reason: (e as Error).message });
        await this.refreshAfterFault();
      }
    }
  }
}
