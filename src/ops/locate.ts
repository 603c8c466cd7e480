/**
 * Where keys live: the shard twemproxy sends each key to (hashring, from the description's proxy settings)
 * and that shard's current master (from the sentinels, falling back to the description).
 */
import { Redis } from 'ioredis';
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
  /** 'description' when no sentinel answered for the shard and the configured master is shown instead. */
  masterSource: MasterSource;
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
  const masters = opts.noSentinel ? new Map<string, string>() : await mastersFromSentinels(topo, wanted, opts.timeoutMs ?? 500);
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
    };
  });
}

/**
 * Asks every sentinel for each shard's master and keeps, per shard, the address most sentinels report.
 * A shard no sentinel answers for is left out (the caller falls back to the description).
 */
export async function mastersFromSentinels(topo: Topology, shards: string[], timeoutMs: number): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (shards.length === 0) return out;
  const password = readPassword(topo);
  const answers = await Promise.all(topo.sentinel.instances.map((addr) => askSentinel(addr, shards, password, timeoutMs)));
  for (const shard of shards) {
    const votes = new Map<string, number>();
    for (const a of answers) {
      const m = a.get(shard);
      if (m !== undefined) votes.set(m, (votes.get(m) ?? 0) + 1);
    }
    let best: string | undefined;
    let bestVotes = 0;
    for (const [m, v] of votes) {
      if (v > bestVotes) {
        best = m;
        bestVotes = v;
      }
    }
    if (best !== undefined) out.set(shard, best);
  }
  return out;
}

async function askSentinel(addr: string, shards: string[], password: string | null, timeoutMs: number): Promise<Map<string, string>> {
  const colon = addr.lastIndexOf(':');
  const host = addr.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(addr.slice(colon + 1));
  const client = new Redis({
    host,
    port,
    lazyConnect: true,
    enableReadyCheck: false,
    disableClientInfo: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
    disconnectTimeout: timeoutMs,
    ...(password !== null ? { password } : {}),
  });
  // A sentinel that is down is expected here; its error is the absence of an answer, not a crash.
  client.on('error', () => {});
  const found = new Map<string, string>();
  // One deadline for connect and replies. Not ioredis's commandTimeout: its timers outlive the replies and
  // would keep a short-lived CLI process alive after it has printed its answer.
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), timeoutMs);
  });
  try {
    const replies = await Promise.race([
      client.connect().then(() => Promise.all(
        shards.map((s) => client.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', s).catch(() => null)),
      )),
      deadline,
    ]);
    replies?.forEach((r, i) => {
      if (Array.isArray(r) && r.length === 2) {
        const h = String(r[0]);
        found.set(shards[i]!, h.includes(':') ? `[${h}]:${String(r[1])}` : `${h}:${String(r[1])}`);
      }
    });
  } catch {
    // Unreachable or refusing: this sentinel contributes no answers.
  } finally {
    clearTimeout(timer);
    // After a refused connect the socket is already closed; ioredis's disconnect would still arm a
    // 2 s (disconnectTimeout) timer waiting for a close that never comes, holding the process open.
    if (client.status !== 'end') client.disconnect();
  }
  return found;
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
