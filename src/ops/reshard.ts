import { readFileSync } from 'node:fs';
import { InvalidInputError } from '../errors.js';
import { abortReshard, planReshard, resumeReshard, startReshard, type ReshardEvent, type ReshardPlan } from '../reshard/index.js';
import { acquireStackLock, localParts, readHaproxyFrontends } from '../runtime/index.js';
import { allProxies, haproxyPaths, proxyPaths, proxyView, type Topology } from '../topology/index.js';
import { reshardDeps, settleHaproxyAfterCrash } from './reshard-proxies.js';

export { reshardDeps, settleHaproxyAfterCrash } from './reshard-proxies.js';

/**
 * The proxies the cut switches: every proxy of the description, each as it sees the description (one proxy: the
 * topology itself). The cut stops, rewrites and restarts each one inside one write pause, so each must be one this
 * process can stop and start: a proxy on another host is refused (exit 2, before anything moves), naming it. Mode
 * exec runs one command per config and cannot stop a proxy first, so several proxies need supervise or haproxy.
 */
export function switchedProxies(topo: Topology): Topology[] {
  const all = allProxies(topo);
  if (all.length === 1) return [topo];
  const where = topo.file ?? 'the description';
  const here = new Set(localParts(topo).proxies.map((p) => p.index));
  const away = all.filter((p) => !here.has(p.index));
  if (away.length > 0) {
    throw new InvalidInputError(
      `${where}: ${away.map((p) => `${p.field} (${p.listen})`).join(', ')} ${away.length === 1 ? 'runs' : 'run'} on another host: reshard's cut stops every ` +
        'proxy, writes its new config and starts it again inside one short write pause, which this process can do only for ' +
        'proxies on this host; with proxies on several hosts a proxy left on the old ring would send writes to the old owner ' +
        'after the commit (lost), so reshard refuses; nothing was changed',
    );
  }
  if (topo.agent.apply !== 'haproxy' && topo.agent.apply !== 'supervise') {
    throw new InvalidInputError(
      `${where}: agent.apply ${topo.agent.apply}: with several proxies (${all.map((p) => p.listen).join(', ')}) reshard's cut stops every proxy before ` +
        'the first new config is written; that needs agent.apply haproxy or supervise; nothing was changed',
    );
  }
  return all.map((p) => proxyView(topo, p));
}

export async function reshardPlan(topo: Topology, rate: number | null): Promise<ReshardPlan> {
  const views = switchedProxies(topo);
  const moved = movedFrontends(views);
  if (moved !== null) throw new InvalidInputError(moved);
  return planReshard(reshardDeps(topo, views, () => {}), { rate });
}

/** One command at a time changes a stack (up, down, services, reshard): the state-dir lock, held to the end. */
async function locked<T>(topo: Topology, views: Topology[], fn: () => Promise<T>): Promise<T> {
  const lock = await acquireStackLock(topo.stateDir, 'reshard');
  try {
    for (const v of views) await settleHaproxyAfterCrash(v, readFileSync(proxyPaths(v.proxyDir).conf, 'utf8')).catch(() => {});
    return await fn();
  } finally {
    lock.release();
  }
}

/**
 * Mode haproxy: a shard kept by the reshard must keep its HAProxy frontend on every proxy (nutcracker's line for it
 * points there). A derived frontend moves when an address added to the description takes its port, or one removed
 * frees a lower one; refused, naming the field that pins it. Null when none moves.
 */
export function movedFrontends(views: Topology[]): string | null {
  const out: string[] = [];
  for (const topo of views) {
    if (topo.agent.apply !== 'haproxy') return null;
    let running: Record<string, string>;
    try {
      running = readHaproxyFrontends(readFileSync(haproxyPaths(topo.proxyDir).conf, 'utf8'));
    } catch {
      continue;
    }
    const moved = topo.shards.filter((s) => running[s.name] !== undefined && running[s.name] !== topo.haproxyFrontends[s.name]);
    if (moved.length === 0) continue;
    const field = views.length > 1 ? `proxies[${topo.proxyIndex}].haproxy.frontends` : 'proxy.haproxy.frontends';
    out.push(
      `${moved.map((s) => `${field}.${s.name} would move from ${running[s.name]} to ${topo.haproxyFrontends[s.name]}`).join(', ')} ` +
        `(its frontend is derived from ${views.length > 1 ? `proxies[${topo.proxyIndex}].listen` : 'proxy.listen'}, and the shards added or removed change which ports are free); give ` +
        `${moved.map((s) => `${field}.${s.name}: ${running[s.name]}`).join(', ')} in the description (an added shard's instances must not use those ports)`,
    );
  }
  if (out.length === 0) return null;
  return `${views[0]!.file ?? 'the description'}: ${out.join('; ')}; nothing was changed`;
}

export async function reshardRun(
  topo: Topology,
  opts: { rate: number | null; emit: (e: ReshardEvent) => void; confirm?: (p: ReshardPlan) => Promise<boolean> },
) {
  const views = switchedProxies(topo);
  const moved = movedFrontends(views);
  if (moved !== null) throw new InvalidInputError(moved);
  return locked(topo, views, () => startReshard(reshardDeps(topo, views, opts.emit), { rate: opts.rate, ...(opts.confirm ? { confirm: opts.confirm } : {}) }));
}

export async function reshardResume(topo: Topology, emit: (e: ReshardEvent) => void) {
  const views = switchedProxies(topo);
  return locked(topo, views, () => resumeReshard(reshardDeps(topo, views, emit)));
}

export async function reshardAbort(topo: Topology, emit: (e: ReshardEvent) => void) {
  // Before the commit every proxy serves the old ring: abort settles the ones here (a crash in the cut) and
  // changes no proxy config.
  const views = allProxies(topo).length === 1 ? [topo] : localParts(topo).proxies.map((p) => proxyView(topo, p));
  return locked(topo, views, () => abortReshard(reshardDeps(topo, views, emit)));
}
