/**
 * Where keys live: the shard twemproxy sends each key to (hashring, from the description's proxy settings)
 * and that shard's current master (from the sentinels, falling back to the description).
 */
import { elect, querySentinels, votesFor } from '../engine/index.js';
import { InvalidInputError } from '../errors.js';
import { buildRing, ringFromNutcrackerYml, RingConfigError, type NutcrackerRing, type Ring } from '../hashring/index.js';
import { readPassword, type Topology } from '../topology/index.js';

/**
 * The ring nutcracker builds from the description: one server per shard, in shards order, named after the
 * shard (as render/ writes them), weighted by shard.weight. `locate(key)` is an index into topo.shards.
 */
export function ringForTopology(topo: Pick<Topology, 'proxy' | 'shards'>): Ring {
  return buildRing({
    hash: topo.proxy.hash,
    distribution: topo.proxy.distribution,
    ...(topo.proxy.hash_tag !== undefined ? { hashTag: topo.proxy.hash_tag } : {}),
    servers: topo.shards.map((s) => ({ name: s.name, addr: s.master, weight: s.weight })),
  });
}

export type MasterSource = 'sentinel' | 'description';

export interface LocatedKey {
  key: Buffer;
  /** Index into topo.shards. */
  shardIndex: number;
  shard: string;
  /** The server's name on the ketama ring (the shard name). */
  ringName: string;
  /** host:port of the shard's current master. */
  master: string;
  /** 'description' when the sentinels elect no master for the shard and the configured master is shown instead. */
  masterSource: MasterSource;
  /** Why the sentinels elect no master (absent with --no-sentinel or when one is elected). */
  noElection?: string;
  /** Apply mode "haproxy": the HAProxy frontend nutcracker sends this shard's keys to, on their way to the master. */
  via: string | null;
}

export interface LocateOptions {
  /** How long each sentinel gets to connect and answer. Default 500 ms. */
  timeoutMs?: number;
  /** Do not ask the sentinels; report the configured masters. */
  noSentinel?: boolean;
}

export async function locateKeys(topo: Topology, keys: Buffer[], opts: LocateOptions = {}): Promise<LocatedKey[]> {
  const ring = ringForTopology(topo);
  if (topo.proxy.distribution === 'random' && topo.shards.length > 1) {
    throw new InvalidInputError(
      `${topo.file ?? '(default deployment)'}: proxy.distribution is "random": nutcracker picks a random shard for every request, so no key has a place`,
    );
  }
  const shardOf = keys.map((k) => ring.locate(k));
  const wanted = [...new Set(shardOf)].map((i) => topo.shards[i]!.name);
  const { masters, why } = opts.noSentinel
    ? { masters: new Map<string, string>(), why: new Map<string, string>() }
    : await mastersFromSentinels(topo, wanted, opts.timeoutMs ?? 500);
  return keys.map((key, i) => {
    const shardIndex = shardOf[i]!;
    const shard = topo.shards[shardIndex]!;
    const fromSentinel = masters.get(shard.name);
    return {
      key,
      shardIndex,
      shard: shard.name,
      ringName: ring.names[shardIndex]!,
      master: fromSentinel ?? shard.master,
      masterSource: fromSentinel !== undefined ? 'sentinel' : 'description',
      ...(why.has(shard.name) ? { noElection: why.get(shard.name)! } : {}),
      via: topo.agent.apply === 'haproxy' ? (topo.haproxyFrontends[shard.name] ?? null) : null,
    };
  });
}

/**
 * Each shard's master as the sentinels elect it (the one query, the one rule). A shard without an elected
 * master is left out, with the reason: the caller falls back to the description and says why.
 */
export async function mastersFromSentinels(topo: Topology, shards: string[], timeoutMs: number): Promise<{ masters: Map<string, string>; why: Map<string, string> }> {
  const masters = new Map<string, string>();
  const why = new Map<string, string>();
  if (shards.length === 0) return { masters, why };
  const reports = await querySentinels(topo.sentinel.instances, shards, readPassword(topo), timeoutMs);
  for (const shard of shards) {
    const e = elect(votesFor(reports, shard), topo.sentinel.instances.length);
    if (e.ok) masters.set(shard, e.master);
    else why.set(shard, e.detail);
  }
  return { masters, why };
}

export interface LocatedInFile {
  key: Buffer;
  /** Index into the pool's servers in file order. */
  serverIndex: number;
  ringName: string;
  /** The server's address as written in the file. */
  addr: string;
}

/** The ring of one pool of a nutcracker.yml; errors name the file. */
export function ringFromNutcrackerFile(file: string, text: string, pool?: string): NutcrackerRing {
  try {
    return ringFromNutcrackerYml(text, pool);
  } catch (e) {
    if (e instanceof RingConfigError) throw new InvalidInputError(`${file}: ${e.message}`, { cause: e });
    throw e;
  }
}

/** Placement from a nutcracker.yml alone (`locate --nutcracker FILE`): no description, no sentinels. */
export function locateInNutcracker(file: string, text: string, keys: Buffer[], pool?: string): { pool: string; keys: LocatedInFile[] } {
  const ring = ringFromNutcrackerFile(file, text, pool);
  if (ring.distribution === 'random' && ring.servers.length > 1) {
    throw new InvalidInputError(
      `${file}: pool ${ring.pool} uses distribution random: nutcracker picks a random server for every request, so no key has a place`,
    );
  }
  return {
    pool: ring.pool,
    keys: keys.map((key) => {
      const i = ring.locate(key);
      return { key, serverIndex: i, ringName: ring.names[i]!, addr: ring.servers[i]!.addr };
    }),
  };
}
