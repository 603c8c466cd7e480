import { ringFromNutcrackerYml, type NutcrackerRing } from '../hashring/index.js';
import { InvalidInputError } from '../errors.js';
import type { ShardSpec, Topology } from '../topology/index.js';
import type { ReshardDeps } from './deps.js';
import type { ReshardState } from './state.js';

/** Where a key lives under the old ring and under the new one, by shard name. */
export interface Placement {
  oldRing: NutcrackerRing;
  newRing: NutcrackerRing;
  oldOwner(key: Uint8Array): string;
  /** The key is `key[start, end)`, all of it by default. */
  newOwner(key: Uint8Array, start?: number, end?: number): string;
}

export function placement(oldYml: string, newYml: string, pool: string): Placement {
  const oldRing = ringFromNutcrackerYml(oldYml, pool);
  const newRing = ringFromNutcrackerYml(newYml, pool);
  for (const r of [oldRing, newRing]) {
    if (r.distribution === 'random') throw new InvalidInputError('distribution random: a key has no fixed shard, so there is nothing to move it to');
  }
  const oldNames = oldRing.servers.map((s) => s.name ?? s.addr);
  const newNames = newRing.servers.map((s) => s.name ?? s.addr);
  return {
    oldRing,
    newRing,
    oldOwner: (k) => oldNames[oldRing.locate(k)]!,
    newOwner: (k, start, end) => newNames[newRing.locate(k, start, end)]!,
  };
}

export interface RingChange {
  added: string[];
  removed: string[];
  kept: string[];
  /** What else changed that moves keys: weights, hash, distribution, hash_tag. */
  settings: string[];
}

/**
 * What the description changes against the live proxy config, refusing what cannot be done online: a shard
 * renamed (its instances reappear under another name), a shard removed and added at once (a name kept with
 * all-new instances), or instances of a kept shard changed (not a key move: edit the shard separately).
 */
export function describeChange(
  live: NutcrackerRing,
  liveShards: readonly ShardSpec[] | null,
  desc: Topology,
  /** Where the proxy path sends each shard, when not the server lines' addresses (apply mode haproxy). */
  liveMasters: Record<string, string> | null = null,
): RingChange {
  const liveNames = live.servers.map((s) => s.name);
  if (liveNames.some((n) => n === undefined)) {
    throw new InvalidInputError('the live nutcracker.yml has unnamed servers: their ring names are addresses, so redis-shard cannot tell shards apart; name them first');
  }
  const before = new Set(liveNames as string[]);
  const after = new Set(desc.shards.map((s) => s.name));
  const added = [...after].filter((n) => !before.has(n));
  const removed = [...before].filter((n) => !after.has(n));
  const kept = [...after].filter((n) => before.has(n));
  const where = desc.file ?? 'the description';
  const liveAddr = new Map(live.servers.map((s) => [s.name!, liveMasters?.[s.name!] ?? s.addr]));
  for (const a of added) {
    const spec = desc.shards.find((s) => s.name === a)!;
    for (const r of removed) {
      const oldInstances = liveShards?.find((s) => s.name === r)?.instances ?? [liveAddr.get(r)!];
      if (spec.instances.some((i) => oldInstances.includes(i))) {
        throw new InvalidInputError(`${where}: shard "${a}" uses instances of removed shard "${r}": a renamed shard cannot be resharded online (its keys would have to move to itself); keep the name "${r}"`);
      }
    }
    for (const k of kept) {
      const liveOf = liveShards?.find((s) => s.name === k)?.instances ?? [liveAddr.get(k)!];
      if (spec.instances.some((i) => liveOf.includes(i))) {
        throw new InvalidInputError(`${where}: added shard "${a}" uses instance(s) of shard "${k}"`);
      }
    }
  }
  for (const k of kept) {
    const spec = desc.shards.find((s) => s.name === k)!;
    const addr = liveAddr.get(k)!;
    if (!spec.instances.includes(addr)) {
      throw new InvalidInputError(`${where}: shard "${k}" is both removed and added: the proxy sends it to ${addr}, which is not among its instances any more (${spec.instances.join(', ')}); remove it and add a shard with another name in two reshards`);
    }
  }
  const settings: string[] = [];
  const p = desc.proxy;
  if (live.hash !== p.hash) settings.push(`hash ${live.hash} -> ${p.hash}`);
  if (live.distribution !== p.distribution) settings.push(`distribution ${live.distribution} -> ${p.distribution}`);
  if ((live.hashTag ?? '') !== (p.hash_tag ?? '')) settings.push(`hash_tag ${JSON.stringify(live.hashTag ?? '')} -> ${JSON.stringify(p.hash_tag ?? '')}`);
  for (const k of kept) {
    const w0 = live.servers.find((s) => s.name === k)!.weight;
    const w1 = desc.shards.find((s) => s.name === k)!.weight;
    if (w0 !== w1) settings.push(`weight of ${k} ${w0} -> ${w1}`);
  }
  return { added, removed, kept, settings };
}

/** Same placement: hash, distribution, hash_tag, and the servers' names and weights. */
export function sameRing(aYml: string, bYml: string, pool: string): boolean {
  const a = ringFromNutcrackerYml(aYml, pool);
  const b = ringFromNutcrackerYml(bYml, pool);
  const servers = (r: typeof a) => JSON.stringify(r.servers.map((s) => [s.name ?? s.addr, s.weight]).sort());
  return a.hash === b.hash && a.distribution === b.distribution && (a.hashTag ?? '') === (b.hashTag ?? '') && servers(a) === servers(b);
}


/** Whether any proxy the reshard switches has the new ring in its live config (the first write of the cut is the commit). */
export function liveIsNewRing(deps: Pick<ReshardDeps, 'views' | 'liveYml'>, state: Pick<ReshardState, 'newYml' | 'pool'>): boolean {
  return deps.views.some((_, i) => {
    try {
      return sameRing(deps.liveYml(i), state.newYml, state.pool);
    } catch {
      return false;
    }
  });
}
