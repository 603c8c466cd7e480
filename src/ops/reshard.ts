import { readFileSync } from 'node:fs';
import { ConfigApplier, ProxySupervisor } from '../agent/index.js';
import { EnvironmentError } from '../errors.js';
import { abortReshard, planReshard, resumeReshard, startReshard, type ReshardDeps, type ReshardEvent, type ReshardPlan } from '../reshard/index.js';
import { acquireStackLock, restartAgentWorker } from '../runtime/index.js';
import { proxyPaths, readPassword, type Topology } from '../topology/index.js';

/** Wires the reshard to the agent's config writer: the cut takes the same apply lock the agent takes. */
export function reshardDeps(topo: Topology, emit: (e: ReshardEvent) => void): ReshardDeps {
  const password = readPassword(topo);
  const proxy = topo.agent.apply === 'supervise' ? new ProxySupervisor(topo) : null;
  const applier = new ConfigApplier(topo, password, proxy);
  const liveYml = (): string => {
    // Staging mode: the staging file is what the installer applies next, so it is the live ring's source.
    const path = topo.agent.apply === 'staging' ? topo.stagingFile : proxyPaths(topo.stateDir).conf;
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return readFileSync(proxyPaths(topo.stateDir).conf, 'utf8');
    }
  };
  return {
    topo,
    password,
    liveYml,
    check: async (text) => {
      const r = await applier.check(text);
      return r.ok ? null : r.error;
    },
    switchProxy: async (fn) => {
      // The file itself, read under the lock: the applier's base may be its last good config instead.
      const r = await applier.apply(() => fn(liveYml()), { lockTimeoutMs: 15_000 });
      if (!r.ok) throw Object.assign(r.error, { stage: r.stage });
    },
    stopProxy: async () => {
      if (!proxy) throw new EnvironmentError('stopping the proxy needs agent.apply supervise');
      await proxy.stop();
    },
    restartAgent: async () => {
      await restartAgentWorker(topo);
    },
    emit,
  };
}

export async function reshardPlan(topo: Topology, rate: number | null): Promise<ReshardPlan> {
  return planReshard(reshardDeps(topo, () => {}), { rate });
}

/** One command at a time changes a stack (up, down, services, reshard): the state-dir lock, held to the end. */
async function locked<T>(topo: Topology, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireStackLock(topo.stateDir, 'reshard');
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

export async function reshardRun(
  topo: Topology,
  opts: { rate: number | null; emit: (e: ReshardEvent) => void; confirm?: (p: ReshardPlan) => Promise<boolean> },
) {
  return locked(topo, () => startReshard(reshardDeps(topo, opts.emit), { rate: opts.rate, ...(opts.confirm ? { confirm: opts.confirm } : {}) }));
}

export async function reshardResume(topo: Topology, emit: (e: ReshardEvent) => void) {
  return locked(topo, () => resumeReshard(reshardDeps(topo, emit)));
}

export async function reshardAbort(topo: Topology, emit: (e: ReshardEvent) => void) {
  return locked(topo, () => abortReshard(reshardDeps(topo, emit)));
}
