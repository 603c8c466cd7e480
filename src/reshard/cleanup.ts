import { existsSync, rmSync } from 'node:fs';
import { parseRoleReply } from '../engine/index.js';
import { TransientError } from '../errors.js';
import { localParts, ourPid, sentinelRemove, stopShardInstances, withClient, writeExpectedRings } from '../runtime/index.js';
import { redisPaths, type Topology } from '../topology/index.js';
import { scanAll } from './copy.js';
import { CutPhase } from './cut.js';
import { sentinelMaster } from './masters.js';
import { archiveState, writeState } from './state.js';

/**
 * Data dirs of this host's instances that are stopped (a removed shard after the commit, an added shard after an
 * abort: nothing in them is needed). Another host's instances (a state dir may be shared) and any still running
 * are left alone. Returns the dirs removed.
 */
function removeStoppedInstanceDirs(topo: Topology, instances: string[]): string[] {
  const removed: string[] = [];
  const here = localParts({ ...topo, shards: [{ name: '-', master: instances[0]!, instances, weight: 1 }] }).redis;
  for (const addr of here) {
    const p = redisPaths(topo.stateDir, addr);
    if (!existsSync(p.dir) || ourPid(p.pid, topo.stateDir) !== null) continue;
    rmSync(p.dir, { recursive: true, force: true });
    removed.push(p.dir);
  }
  return removed;
}

/** After the commit: old copies removed, removed shards stopped and forgotten. Before it: --abort. */
export class CleanupPhase extends CutPhase {

  /** Old copies removed from the shards that kept running (rate-limited); removed shards stopped and forgotten. */
  protected async cleanup(): Promise<void> {
    this.closeTrackers();
    for (const s of this.state.sources.filter((x) => !this.state.removedShards.includes(x))) {
      const c = await this.client(s);
      let removed = 0;
      await scanAll(c, async (keys) => {
        const stale = keys.filter((k) => this.place.newOwner(k) !== s);
        for (let i = 0; i < stale.length; i += 500) {
          const part = stale.slice(i, i + 500);
          await this.limiter.take(part.length);
          await c.unlink(...part);
          removed += part.length;
          this.state.progress.keysCleaned += part.length;
        }
      });
      writeState(this.topo.stateDir, this.state);
      this.deps.emit({ type: 'cleanup', shard: s, keysRemoved: removed });
    }
    const kept = this.topo.shards.flatMap((s) => s.instances);
    await this.restoreEvents(kept);
    for (const r of this.state.removedShards) {
      const failures = await sentinelRemove(this.topo, r, this.deps.password);
      if (failures.length > 0) throw new TransientError(`SENTINEL REMOVE ${r} failed on ${failures.join('; ')}; run reshard --resume`);
      const stopped = await stopShardInstances(this.topo, { name: r, master: this.state.shardInstances[r]![0]!, instances: this.state.shardInstances[r]!, weight: 1 });
      // Every key it held lives on its new owner now (the commit is past), so its data dirs go too.
      const removedDirs = removeStoppedInstanceDirs(this.topo, this.state.shardInstances[r]!);
      this.deps.emit({ type: 'shard-removed', shard: r, stopped, removedDirs });
    }
  }


  /** Before the commit: copies removed from the destinations, pauses lifted, an added shard stopped and forgotten. */
  async abort(): Promise<void> {
    try {
      for (const s of this.state.sources) {
        const m = await sentinelMaster({ ...this.topo, shards: this.allShards() }, s, this.deps.password);
        if (m) await withClient(m, this.deps.password, (c) => c.call('CLIENT', 'UNPAUSE'), { timeoutMs: 2000 }).catch(() => {});
      }
      for (const d of this.state.destinations.filter((x) => !this.state.addedShards.includes(x))) {
        const c = await this.client(d);
        let removed = 0;
        await scanAll(c, async (keys) => {
          const copies = keys.filter((k) => this.place.oldOwner(k) !== d || k.toString('latin1').startsWith(this.tmpPrefix));
          if (copies.length > 0) {
            await c.unlink(...copies);
            removed += copies.length;
          }
        });
        this.deps.emit({ type: 'cleanup', shard: d, keysRemoved: removed });
      }
      for (const a of this.state.addedShards) {
        const spec = this.topo.shards.find((s) => s.name === a);
        await sentinelRemove(this.topo, a, this.deps.password);
        if (!spec) continue;
        // Its data is nothing but copies: emptied so that adding it again later starts clean.
        for (const addr of spec.instances) {
          await withClient(addr, this.deps.password, async (c) => {
            const role = parseRoleReply(await c.call('ROLE'));
            if ('role' in role && role.role === 'master') await c.flushall();
          }, { timeoutMs: 5000 }).catch(() => {});
        }
        await stopShardInstances(this.topo, spec);
        removeStoppedInstanceDirs(this.topo, spec.instances);
      }
      await this.restoreEvents(Object.values(this.state.shardInstances).flat());
      this.state.phase = 'aborted';
      archiveState(this.topo.stateDir, this.state);
      writeExpectedRings(this.topo.stateDir, null);
      this.deps.emit({ type: 'phase', phase: 'aborted', epoch: this.state.epoch });
      this.deps.emit({
        type: 'info',
        message: `aborted: the proxy serves the old ring; put ${this.topo.file ?? 'the description'} back as it was (the agent and up judge the proxy config against it)`,
      });
    } finally {
      this.closeAll();
    }
  }
}
