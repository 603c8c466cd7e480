/**
 * A twemproxy server pool's key placement (src/nc_server.c, server_pool_idx), built from the same inputs
 * the proxy reads: hash, distribution, hash_tag and the servers with their weights and names.
 */
import { HASH_FUNCTIONS, isHashName, type HashFn, type HashName } from './hashes.js';
import { buildContinuum, KetamaIndex, ketamaShare, type PointCountFn } from './ketama.js';
import { compareNames, ringName } from './names.js';

export const DISTRIBUTION_NAMES = ['ketama', 'modula', 'random'] as const;
export type DistributionName = (typeof DISTRIBUTION_NAMES)[number];

export interface ServerSpec {
  /** The name after the space in `host:port:weight name`; without one, the ring uses the address. */
  name?: string;
  /** `host:port` as written in nutcracker.yml (or a unix socket path). */
  addr: string;
  /** A positive integer. twemproxy honours it with or without a name. */
  weight: number;
}

export interface RingOptions {
  /** Default fnv1a_64, as in twemproxy. A function is accepted for experiments. */
  hash?: HashName | HashFn;
  /** Default ketama, as in twemproxy. */
  distribution?: DistributionName;
  /** Two characters, e.g. "{}"; when a key holds a non-empty tag, only the tag is hashed. */
  hashTag?: string;
  servers: readonly ServerSpec[];
  /** Ketama points per server; defaults to twemproxy's rule. Replaceable only to show that a wrong rule is caught. */
  ketamaPoints?: PointCountFn;
}

export interface Ring {
  readonly hash: string;
  readonly distribution: DistributionName;
  readonly hashTag: string | undefined;
  /** Ring name of each server, in the order given. */
  readonly names: readonly string[];
  /** twemproxy's server index -> index in the order given (twemproxy numbers servers in name order). */
  readonly order: readonly number[];
  /** Ketama points of each server in the order given (modula: its weight; random: 1). */
  readonly points: readonly number[];
  /**
   * Index, in the order given, of the server twemproxy sends this key to. Throws for `random`. The key is
   * `key[start, end)` (all of it by default): a reader of a buffer of many keys asks without a view per key.
   */
  locate(key: Uint8Array, start?: number, end?: number): number;
  /** The value twemproxy dispatches on: the hash of the tag or the whole key, 0 for an empty one. */
  keyHash(key: Uint8Array, start?: number, end?: number): number;
  /** Predicted fraction of the key space each server gets, in the order given. */
  share(): number[];
}

/** The options describe no ring twemproxy would build, or the ring cannot answer the question. */
export class RingConfigError extends Error {
  override name = 'RingConfigError';
}

export function buildRing(opts: RingOptions): Ring {
  const distribution = opts.distribution ?? 'ketama';
  if (!(DISTRIBUTION_NAMES as readonly string[]).includes(distribution)) {
    throw new RingConfigError(`distribution: "${distribution}" is not one of ${DISTRIBUTION_NAMES.join(', ')}`);
  }
  const hashOpt = opts.hash ?? 'fnv1a_64';
  let hashFn: HashFn;
  if (typeof hashOpt === 'function') hashFn = hashOpt;
  else if (isHashName(hashOpt)) hashFn = HASH_FUNCTIONS[hashOpt];
  else throw new RingConfigError(`hash: "${String(hashOpt)}" is not one of twemproxy's hashes`);
  const hashLabel = typeof hashOpt === 'function' ? hashOpt.name || 'custom' : hashOpt;

  const servers = opts.servers;
  if (servers.length === 0) throw new RingConfigError('servers: a pool needs at least one server');
  const names = servers.map((s, i) => {
    if (!Number.isInteger(s.weight) || s.weight < 1) {
      throw new RingConfigError(`servers[${i}].weight: ${s.weight} is not a positive whole number`);
    }
    if (s.name !== undefined && (s.name === '' || /\s/.test(s.name))) {
      // twemproxy takes the text after the last space as the name, so a name can hold no whitespace.
      throw new RingConfigError(`servers[${i}].name: "${s.name}" is empty or holds whitespace`);
    }
    if (s.addr === '') throw new RingConfigError(`servers[${i}].addr: empty`);
    return ringName(s.addr, s.name);
  });
  const nameBytes = names.map((n) => new TextEncoder().encode(n));
  const order = servers.map((_, i) => i).sort((a, b) => compareNames(nameBytes[a]!, nameBytes[b]!));
  for (let p = 1; p < order.length; p++) {
    if (compareNames(nameBytes[order[p - 1]!]!, nameBytes[order[p]!]!) === 0) {
      throw new RingConfigError(
        `servers[${order[p - 1]}] and servers[${order[p]}] have the same ring name "${names[order[p]!]}" (twemproxy rejects this)`,
      );
    }
  }

  let tag0 = -1;
  let tag1 = -1;
  if (opts.hashTag !== undefined && opts.hashTag !== '') {
    const t = new TextEncoder().encode(opts.hashTag);
    if (t.length !== 2) throw new RingConfigError(`hash_tag: "${opts.hashTag}" must be exactly two bytes, e.g. "{}"`);
    tag0 = t[0]!;
    tag1 = t[1]!;
  }
  const tagged = tag0 >= 0;

  /** The value twemproxy dispatches on. Locals, not shared state, keep it allocation-free and fast. */
  const keyHash = tagged
    ? (key: Uint8Array, start = 0, end = key.length): number => {
        // Plain loops: Buffer#indexOf goes through a native call that costs more than the scan.
        let a = start;
        while (a < end && key[a] !== tag0) a++;
        let b = a + 1;
        while (b < end && key[b] !== tag1) b++;
        // An empty tag ("{}") or a missing closing character leaves the whole key hashed.
        if (b < end && b > a + 1) return hashFn(key, a + 1, b);
        return end === start ? 0 : hashFn(key, start, end);
      }
    : (key: Uint8Array, start = 0, end = key.length): number => (end === start ? 0 : hashFn(key, start, end));

  const weights = order.map((i) => servers[i]!.weight);
  const totalWeight = weights.reduce((a, b) => a + b, 0);
  const single = servers.length === 1;
  const base = { hash: hashLabel, distribution, hashTag: tagged ? opts.hashTag : undefined, names, order, keyHash };

  if (distribution === 'ketama') {
    const c = buildContinuum(order.map((i) => nameBytes[i]!), weights, order, opts.ketamaPoints);
    const { values, owners } = c;
    const index = new KetamaIndex(values);
    if (values.length === 0) throw new RingConfigError('servers: the weights leave no ketama points at all');
    const locate = single
      ? () => 0
      : (key: Uint8Array, start = 0, end = key.length): number => owners[index.search(keyHash(key, start, end))]!;
    return { ...base, points: c.counts, locate, share: () => (single ? [1] : ketamaShare(c, servers.length)) };
  }

  if (distribution === 'modula') {
    // One slot per unit of weight, servers in twemproxy's order; a key takes slot hash % slots.
    const slots = new Int32Array(totalWeight);
    let at = 0;
    for (const i of order) for (let w = 0; w < servers[i]!.weight; w++) slots[at++] = i;
    const locate = single
      ? () => 0
      : (key: Uint8Array, start = 0, end = key.length): number => slots[keyHash(key, start, end) % totalWeight]!;
    return {
      ...base,
      points: servers.map((s) => s.weight),
      locate,
      share: () => servers.map((s) => s.weight / totalWeight),
    };
  }

  // random: one slot per server whatever its weight, chosen by random() for each request.
  const locate = single
    ? () => 0
    : (): number => {
        throw new RingConfigError(
          'distribution random: twemproxy sends each request to a random server, so the key does not determine the server',
        );
      };
  return { ...base, points: servers.map(() => 1), locate, share: () => servers.map(() => 1 / servers.length) };
}
