import { InvalidInputError, TransientError } from '../errors.js';
import { writeExpectedRings } from '../runtime/index.js';
import { proxyPaths, type Topology } from '../topology/index.js';
import type { ReshardDeps } from './deps.js';
import { ReshardLock } from './lock.js';
import { sentinelMaster, sentinelReplicas } from './masters.js';
import { addrOf, checkMemory, planReshard, renderNew, waitNoFailover, type ReshardPlan } from './plan.js';
import { liveIsNewRing, sameRing } from './rings.js';
import { Runner } from './runner.js';
import { beforeCommit, exitHook, nextEpoch, readState, writeState, type ReshardState } from './state.js';

export interface ReshardResult {
  state: ReshardState;
}

/** `reshard`: plan, refuse what cannot be done online, record the plan, and run it to the end. */
export async function startReshard(deps: ReshardDeps, opts: { rate: number | null; confirm?: (plan: ReshardPlan) => Promise<boolean> }): Promise<ReshardResult | null> {
  const { topo, password } = deps;
  const lock = ReshardLock.take(topo.stateDir);
  try {
    const plan = await planReshard(deps, { rate: opts.rate });
    if (plan.change.added.length + plan.change.removed.length === 0 && plan.change.settings.length === 0) {
      throw new InvalidInputError(`${topo.file ?? 'the description'}: the ring is the one the proxy serves already; nothing to reshard`);
    }
    const mode = topo.agent.apply as string;
    if (mode === 'staging') {
      // The new config takes effect whenever the installer gets to it, after the sources are unpaused, so
      // writes would reach old owners meanwhile.
      throw new InvalidInputError(`agent.apply ${mode}: reshard needs apply mode haproxy, supervise (or exec, whose command restarts the proxy before it returns); nothing was changed`);
    }
    if (plan.cutMode === 'proxy-stop' && mode === 'exec') {
      throw new InvalidInputError(
        `${plan.change.settings.join(', ')} moves keys in every direction, so the cut stops the proxy for a moment; that needs agent.apply haproxy or supervise (it is ${mode})`,
      );
    }
    const busy = await waitNoFailover(topo, Object.keys(plan.masters), password);
    if (busy.length > 0) throw new TransientError(`a failover is in progress on ${busy.join(', ')}; try again when it is over (nothing was changed)`);
    for (const s of Object.keys(plan.masters)) {
      const m = await sentinelMaster(topo, s, password);
      if (m !== plan.masters[s]) throw new TransientError(`shard ${s}: the proxy sends to ${plan.masters[s]} but the sentinels' master is ${m ?? 'unknown'}; wait for the agent to settle, then try again`);
    }
    checkEveryProxy(deps, plan);
    await checkMemory(topo, plan, password);
    if (opts.confirm && !(await opts.confirm(plan))) return null;

    const instances: Record<string, string[]> = {};
    for (const s of topo.shards) instances[s.name] = [...s.instances];
    for (const r of plan.change.removed) instances[r] = [plan.masters[r]!, ...(await sentinelReplicas(topo, r, password))];
    const now = new Date().toISOString();
    const state: ReshardState = {
      version: 1,
      epoch: nextEpoch(topo.stateDir),
      phase: 'planned',
      startedAt: now,
      updatedAt: now,
      descriptionFile: topo.file,
      oldYml: plan.oldYml,
      newYml: plan.newYml,
      pool: topo.proxy.name,
      addedShards: plan.change.added,
      removedShards: plan.change.removed,
      shardInstances: instances,
      sources: plan.sources,
      destinations: [...new Set([...plan.destinations, ...plan.change.added])],
      rateKeysPerSec: opts.rate,
      notifyBefore: {},
      progress: { keysCopied: 0, bytesCopied: 0, keysDeleted: 0, passes: 0, keysCleaned: 0 },
      planned: { keys: plan.totalKeys, bytes: plan.totalBytes },
      committedAt: null,
      cut: { pauseMs: null, attempts: 0 },
      lastError: null,
    };
    writeState(topo.stateDir, state);
    writeExpectedRings(topo.stateDir, [plan.oldYml]);
    deps.emit({ type: 'phase', phase: 'planned', epoch: state.epoch });
    exitHook('planned');
    try {
      await new Runner(deps, state, false).run();
    } catch (e) {
      // A shard that does not come up is refused before anything moved: undo what was started.
      if (state.phase === 'planned') {
        await new Runner(deps, state, true).abort().catch(() => {});
      }
      throw e;
    }
    return { state };
  } finally {
    lock.release();
  }
}

export async function resumeReshard(deps: ReshardDeps): Promise<ReshardResult> {
  return withRecordedReshard(deps, 'resume', async (state) => {
    checkSameDescription(deps.topo, state);
    deps.emit({ type: 'info', message: `resuming epoch ${state.epoch} at phase ${state.phase}` });
    await new Runner(deps, state, true).run();
  });
}

export async function abortReshard(deps: ReshardDeps): Promise<ReshardResult> {
  return withRecordedReshard(deps, 'abort', async (state) => {
    if (!beforeCommit(state.phase) || liveIsNewRing(deps, state)) {
      throw new InvalidInputError(`reshard epoch ${state.epoch} is past its commit (phase ${state.phase}): the proxy serves the new ring; it can only go forward (reshard --resume)`);
    }
    await new Runner(deps, state, true).abort();
  });
}

/** Under the reshard lock, `fn` on the recorded reshard; none recorded is bad input (nothing to `verb`). */
async function withRecordedReshard(deps: ReshardDeps, verb: string, fn: (state: ReshardState) => Promise<void>): Promise<ReshardResult> {
  const lock = ReshardLock.take(deps.topo.stateDir);
  try {
    const state = readState(deps.topo.stateDir);
    if (!state) throw new InvalidInputError(`no reshard in progress in this state dir; nothing to ${verb}`);
    await fn(state);
    return { state };
  } finally {
    lock.release();
  }
}

/**
 * With several proxies the plan was counted on the first one's live config: every other must serve the same ring
 * and send each shard to the same master, or a key could be moved away from where one of them reads it.
 */
function checkEveryProxy(deps: ReshardDeps, plan: ReshardPlan): void {
  for (let i = 1; i < deps.views.length; i++) {
    const listen = deps.views[i]!.proxy.listen;
    const text = deps.liveYml(i);
    if (!sameRing(text, plan.oldYml, deps.topo.proxy.name)) {
      throw new InvalidInputError(`proxy ${listen} (${proxyPaths(deps.views[i]!.proxyDir).conf}) serves another ring than proxy ${deps.views[0]!.proxy.listen}: a reshard starts from one ring that every proxy serves; nothing was changed`);
    }
    const masters = deps.liveMasters(text, i);
    for (const s of Object.keys(plan.masters)) {
      if (masters[s] !== plan.masters[s]) {
        throw new TransientError(`shard ${s}: proxy ${listen} sends to ${masters[s] ?? 'nothing'} but proxy ${deps.views[0]!.proxy.listen} to ${plan.masters[s]}; wait for its agent to settle, then try again (nothing was changed)`);
      }
    }
  }
}


function checkSameDescription(topo: Topology, state: ReshardState): void {
  if (!sameRing(renderNew(topo, addrOf(state.oldYml, state.pool), null, {}), state.newYml, state.pool)) {
    throw new InvalidInputError(`${topo.file ?? 'the description'} no longer describes the ring of reshard epoch ${state.epoch}; put it back as it was, then --resume (or --abort before the commit)`);
  }
}
