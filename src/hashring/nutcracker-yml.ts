/**
 * A ring straight from a nutcracker.yml pool, for people who run twemproxy without the rest of redis-shard.
 * Only the keys that decide placement are read; the proxy's own `nutcracker -t` remains the judge of the rest.
 */
import { parse } from 'yaml';
import { HASH_NAMES, isHashName } from './hashes.js';
import { parseServerLine } from '../engine/nutcracker-servers.js';
import { buildRing, DISTRIBUTION_NAMES, RingConfigError, type DistributionName, type Ring, type ServerSpec } from './ring.js';

export type NutcrackerServer = ServerSpec & {
  /** The server line as written. */
  line: string;
};

export interface NutcrackerRing extends Ring {
  /** The pool the ring was built from. */
  pool: string;
  /** The pool's servers in file order; `locate` indexes into this. */
  servers: NutcrackerServer[];
}

/**
 * Builds the ring of one pool. `pool` may be omitted when the file has exactly one.
 * Throws RingConfigError naming the pool and key.
 */
export function ringFromNutcrackerYml(text: string, pool?: string): NutcrackerRing {
  let doc: unknown;
  try {
    // Failsafe schema: every scalar stays a string, as in nutcracker's own libyaml reader, so a server
    // line is never turned into a number and "hash_tag: {}" keeps the text it has.
    doc = parse(text, { schema: 'failsafe', uniqueKeys: true });
  } catch (e) {
    throw new RingConfigError(`not valid YAML: ${(e as Error).message.split('\n')[0]}`, { cause: e });
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new RingConfigError('expected a mapping of pool names to pool settings at the top level');
  }
  const pools = doc as Record<string, unknown>;
  const poolNames = Object.keys(pools);
  if (poolNames.length === 0) throw new RingConfigError('no pools in the file');
  let name: string;
  if (pool !== undefined) {
    if (!(pool in pools)) throw new RingConfigError(`no pool "${pool}"; the file has ${poolNames.join(', ')}`);
    name = pool;
  } else if (poolNames.length === 1) {
    name = poolNames[0]!;
  } else {
    throw new RingConfigError(`the file has several pools (${poolNames.join(', ')}); name one`);
  }
  const p = pools[name];
  if (p === null || typeof p !== 'object' || Array.isArray(p)) throw new RingConfigError(`${name}: expected a mapping`);
  const settings = p as Record<string, unknown>;

  const hash = settings.hash ?? 'fnv1a_64';
  if (typeof hash !== 'string' || !isHashName(hash)) {
    throw new RingConfigError(`${name}.hash: "${String(hash)}" is not one of ${HASH_NAMES.join(', ')}`);
  }
  const distribution = settings.distribution ?? 'ketama';
  if (typeof distribution !== 'string' || !(DISTRIBUTION_NAMES as readonly string[]).includes(distribution)) {
    throw new RingConfigError(`${name}.distribution: "${String(distribution)}" is not one of ${DISTRIBUTION_NAMES.join(', ')}`);
  }
  const hashTag = settings.hash_tag;
  if (hashTag !== undefined && (typeof hashTag !== 'string' || Buffer.byteLength(hashTag) !== 2)) {
    throw new RingConfigError(`${name}.hash_tag: "${String(hashTag)}" is not a string of exactly two characters`);
  }
  const list = settings.servers;
  if (!Array.isArray(list) || list.length === 0) throw new RingConfigError(`${name}.servers: expected a non-empty list`);
  const servers = list.map((line, i) => {
    if (typeof line !== 'string') throw new RingConfigError(`${name}.servers[${i}]: expected "host:port:weight [name]"`);
    const parsed = parseServerLine(line);
    if (typeof parsed === 'string') throw new RingConfigError(`${name}.servers[${i}]: "${line}": ${parsed}`);
    return parsed;
  });
  let ring: Ring;
  try {
    ring = buildRing({ hash, distribution: distribution as DistributionName, hashTag, servers });
  } catch (e) {
    if (e instanceof RingConfigError) throw new RingConfigError(`${name}: ${e.message}`, { cause: e });
    throw e;
  }
  return Object.assign(ring, { pool: name, servers });
}
