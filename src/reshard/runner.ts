import { InvalidInputError, TransientError } from '../errors.js';
import { sentinelMonitor, startShardInstances, withClient, writeExpectedRings } from '../runtime/index.js';
import { CleanupPhase } from './cleanup.js';
import { sentinelMaster } from './masters.js';
import { archiveState, beforeCommit, writeState } from './state.js';

/** The state machine: from whatever phase the record names, forward to done. One instance per process run. */
export class Runner extends CleanupPhase {

  async run(): Promise<void> {
    try {
      // Killed between writing the new proxy config and recording it: the config is the commit.
      if (beforeCommit(this.state.phase) && this.liveIsNewRing()) this.recordCommit();
      writeExpectedRings(this.topo.stateDir, [beforeCommit(this.state.phase) ? this.state.oldYml : this.state.newYml]);
      if (beforeCommit(this.state.phase)) {
        if (this.state.phase === 'planned') {
          await this.startAddedShards();
          this.setPhase('shard-started');
        } else {
          await this.startAddedShards();
        }
        await this.copyAndCut();
      }
      if (this.state.phase === 'committed') {
        // After a kill between commit and switch, the switch is done again (it is idempotent).
        await this.switchAfterCommit();
        this.setPhase('cleaning');
      }
      if (this.state.phase === 'cleaning') {
        await this.cleanup();
        this.state.phase = 'done';
        archiveState(this.topo.stateDir, this.state);
        writeExpectedRings(this.topo.stateDir, null);
        this.deps.emit({ type: 'phase', phase: 'done', epoch: this.state.epoch });
      }
    } catch (e) {
      this.state.lastError = (e as Error).message;
      try {
        writeState(this.topo.stateDir, this.state);
      } catch {
        /* the record keeps its phase either way */
      }
      throw e;
    } finally {
      this.closeAll();
    }
  }


  protected async startAddedShards(): Promise<void> {
    for (const name of this.state.addedShards) {
      const spec = this.topo.shards.find((s) => s.name === name)!;
      const known = await sentinelMaster(this.topo, name, this.deps.password);
      if (known === null) {
        try {
          await startShardInstances(this.topo, spec, this.deps.password, (l) => this.deps.emit({ type: 'info', message: l }));
        } catch (e) {
          throw new TransientError(`the added shard ${name} did not come up: ${(e as Error).message}; nothing was moved`, { cause: e });
        }
        if (this.state.phase === 'planned') {
          const keys = await withClient(spec.master, this.deps.password, (c) => c.dbsize(), { timeoutMs: 2000 });
          if (keys > 0) throw new InvalidInputError(`the added shard ${name} already holds ${keys} keys at ${spec.master}; an added shard must start empty`);
        }
        await sentinelMonitor(this.topo, name, spec.master, this.deps.password);
      }
      this.deps.emit({ type: 'shard-started', shard: name });
    }
  }
}
