// Over 250 lines on purpose: load, check and clear share the key naming and the value derivation that make a check need no record.
/**
 * `redis-shard data load|check|clear`, the original loadData/checkData: known keys written through the proxy,
 * read back through it, and looked up on every shard master to prove each key sits where the ring says.
 *
 * Keys are `${prefix}${i}` for i < count and each value is derived from its key (valueFor), so a check needs no
 * record of what was loaded: any count and prefix can be checked by another process, later, after failovers.
 * The count of the last load is remembered in the state dir all the same, so a check without --count checks
 * what was loaded rather than the default 1000.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { InvalidInputError, TransientError } from '../errors.js';
import { atomicWriteFile, currentMasters, openClient, redisClient } from '../runtime/index.js';
import { readPassword, type Topology } from '../topology/index.js';
import { ringForTopology } from './locate.js';
import { shortError } from './probe.js';

export const DEFAULT_PREFIX = 'rs:data:';
/** Commands per pipeline round trip: big enough to hide latency, small enough to keep memory and timeouts flat. */
const BATCH = 500;
/** Per-command timeout; a pipeline of BATCH commands through the proxy finishes well inside it. */
const TIMEOUT_MS = 5000;

export interface DataOptions {
  count: number;
  prefix?: string;
  /** Called after each batch with the number of keys done so far. */
  onProgress?: (done: number) => void;
}

export interface ShardKeys {
  name: string;
  /** The master asked: the sentinels' choice, else the proxy config's, else the description's. */
  master: string;
  /** How many of the checked keys this master holds. */
  keys: number;
  /** The master answered every EXISTS. When false, keys is what it answered before failing. */
  reachable: boolean;
}

export interface DataCheck {
  count: number;
  /** Read through the proxy with the expected value. */
  present: number;
  /** Read through the proxy as nil. */
  missing: number;
  /** Read through the proxy with another value. */
  wrong: number;
  /** GETs the proxy answered with an error (a shard unreachable): neither present nor known lost. */
  errors: number;
  perShard: ShardKeys[];
  /** Keys found on a shard master other than the one the ring predicts. */
  misplaced: number;
  /** Keys found on more than one shard master. */
  onSeveralShards: number;
  ok: boolean;
}

export function keyAt(prefix: string, i: number): string {
  return `${prefix}${i}`;
}

/** The value stored under a key: a digest of the key, so a check can tell a right value from a wrong one. */
export function valueFor(key: string): string {
  return `rs1:${createHash('sha1').update(key).digest('hex')}`;
}

function validate(topo: Topology, opts: { count: number; prefix?: string }): string {
  if (!Number.isInteger(opts.count) || opts.count < 1) throw new InvalidInputError(`--count: expected a whole number >= 1, got ${opts.count}`);
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  if (prefix === '') throw new InvalidInputError('--prefix: must not be empty (the keys would collide with anything)');
  if (topo.proxy.distribution === 'random' && topo.shards.length > 1) {
    throw new InvalidInputError(
      `${topo.file ?? '(default deployment)'}: proxy.distribution is "random": nutcracker sends each request to a random shard, so keys cannot be read back`,
    );
  }
  return prefix;
}

function connected(addr: string, password: string | null, what: string): Promise<Redis> {
  return openClient(addr, password, what, { timeoutMs: TIMEOUT_MS });
}

/** Runs `each(from, to)` over [0, count) in batches, reporting progress after each. */
async function inBatches(count: number, onProgress: ((done: number) => void) | undefined, each: (from: number, to: number) => Promise<void>): Promise<void> {
  for (let from = 0; from < count; from += BATCH) {
    const to = Math.min(count, from + BATCH);
    await each(from, to);
    onProgress?.(to);
  }
}

/** SETs every key through the proxy, pipelined. Throws if any SET fails: a partial load would make check lie. */
export async function loadData(topo: Topology, opts: DataOptions): Promise<{ loaded: number; ms: number }> {
  const prefix = validate(topo, opts);
  const started = Date.now();
  const proxy = await connected(topo.proxy.listen, readPassword(topo), 'the proxy');
  let loaded = 0;
  try {
    await inBatches(opts.count, opts.onProgress, async (from, to) => {
      const pipe = proxy.pipeline();
      for (let i = from; i < to; i++) {
        const key = keyAt(prefix, i);
        pipe.set(key, valueFor(key));
      }
      const replies = (await pipe.exec()) ?? [];
      const failed = replies.findIndex(([err]) => err !== null);
      if (failed >= 0) {
        throw new TransientError(
          `SET ${keyAt(prefix, from + failed)} through the proxy failed: ${shortError(replies[failed]![0])}; ${loaded + failed} of ${opts.count} keys were written`,
        );
      }
      loaded += to - from;
    });
  } finally {
    proxy.disconnect();
  }
  recordLoad(topo, prefix, loaded);
  return { loaded, ms: Date.now() - started };
}

/** Where the last `data load` of each prefix is remembered, so a check without --count checks what was loaded. */
export function loadRecordPath(topo: Topology): string {
  return join(topo.stateDir, 'data-loads.json');
}

function readLoads(topo: Topology): Record<string, { count: number; at: string }> {
  try {
    const o = JSON.parse(readFileSync(loadRecordPath(topo), 'utf8')) as unknown;
    return o !== null && typeof o === 'object' && !Array.isArray(o) ? (o as Record<string, { count: number; at: string }>) : {};
  } catch {
    return {};
  }
}

function recordLoad(topo: Topology, prefix: string, count: number): void {
  // Only beside a stack of this host: a load run from elsewhere has no state dir here to write into.
  if (!existsSync(topo.stateDir)) return;
  try {
    atomicWriteFile(loadRecordPath(topo), `${JSON.stringify({ ...readLoads(topo), [prefix]: { count, at: new Date().toISOString() } }, null, 2)}\n`);
  } catch {
    /* a convenience for the next check; the load itself succeeded */
  }
}

/** The count the last `data load` of this prefix used here, if it was remembered. */
export function lastLoad(topo: Topology, prefix: string = DEFAULT_PREFIX): { count: number; at: string } | null {
  const r = readLoads(topo)[prefix];
  return r && Number.isInteger(r.count) && r.count > 0 ? r : null;
}

/**
 * Reads every key back through the proxy and compares it with valueFor(key); then asks each shard master,
 * with EXISTS, which of the keys it holds, and counts keys on a shard the ring does not predict.
 */
export async function checkData(topo: Topology, opts: DataOptions): Promise<DataCheck> {
  const prefix = validate(topo, opts);
  const password = readPassword(topo);
  const ring = ringForTopology(topo);
  const { masters } = await currentMasters(topo, password);
  const proxy = await connected(topo.proxy.listen, password, 'the proxy');
  // A master that cannot be reached is reported as such, not thrown: the proxy's answers still count.
  const direct = await Promise.all(
    topo.shards.map(async (s) => {
      const addr = masters[s.name]!;
      const c = redisClient(addr, password, { timeoutMs: TIMEOUT_MS });
      try {
        await c.connect();
        return { client: c as Redis | null, addr };
      } catch {
        c.disconnect();
        return { client: null, addr };
      }
    }),
  );
  const perShard: ShardKeys[] = topo.shards.map((s, i) => ({ name: s.name, master: direct[i]!.addr, keys: 0, reachable: direct[i]!.client !== null }));
  const r = { present: 0, missing: 0, wrong: 0, errors: 0, misplaced: 0, onSeveralShards: 0 };
  try {
    await inBatches(opts.count, opts.onProgress, async (from, to) => {
      const keys: string[] = [];
      for (let i = from; i < to; i++) keys.push(keyAt(prefix, i));
      const viaProxy = proxy.pipeline();
      for (const k of keys) viaProxy.get(k);
      const [proxyReplies, ...exists] = await Promise.all([
        viaProxy.exec().then((x) => x ?? []),
        ...direct.map(async (d, shard) => {
          if (d.client === null) return null;
          const pipe = d.client.pipeline();
          for (const k of keys) pipe.exists(k);
          try {
            const replies = (await pipe.exec()) ?? [];
            if (replies.some(([e]) => e !== null)) throw replies.find(([e]) => e !== null)![0];
            return replies.map(([, v]) => v === 1);
          } catch {
            perShard[shard]!.reachable = false;
            return null;
          }
        }),
      ]);
      keys.forEach((k, j) => {
        const [err, v] = (proxyReplies as Array<[Error | null, unknown]>)[j] ?? [new Error('no reply'), null];
        if (err) r.errors++;
        else if (v === null) r.missing++;
        else if (v === valueFor(k)) r.present++;
        else r.wrong++;
        const predicted = ring.locate(Buffer.from(k));
        let on = 0;
        let elsewhere = false;
        exists.forEach((found, shard) => {
          if (found?.[j]) {
            on++;
            perShard[shard]!.keys++;
            if (shard !== predicted) elsewhere = true;
          }
        });
        if (elsewhere) r.misplaced++;
        if (on > 1) r.onSeveralShards++;
      });
    });
  } finally {
    proxy.disconnect();
    for (const d of direct) d.client?.disconnect();
  }
  const ok =
    r.present === opts.count && r.misplaced === 0 && r.onSeveralShards === 0 && perShard.every((s) => s.reachable);
  return { count: opts.count, ...r, perShard, ok };
}

/**
 * DELs every key through the proxy, then on every shard master directly, so copies planted on a wrong
 * shard (which the proxy never routes to) go too. Returns how many were deleted each way.
 */
export async function clearData(topo: Topology, opts: { count: number; prefix?: string; onProgress?: (done: number) => void }): Promise<{ deleted: number; strays: number }> {
  const prefix = validate(topo, opts);
  const password = readPassword(topo);
  const { masters } = await currentMasters(topo, password);
  const proxy = await connected(topo.proxy.listen, password, 'the proxy');
  const direct: Redis[] = [];
  let deleted = 0;
  let strays = 0;
  try {
    for (const s of topo.shards) direct.push(await connected(masters[s.name]!, password, `${s.name}'s master`));
    const del = async (c: Redis, keys: string[]) => {
      const pipe = c.pipeline();
      for (const k of keys) pipe.del(k);
      const replies = (await pipe.exec()) ?? [];
      const failed = replies.find(([e]) => e !== null);
      if (failed) throw new TransientError(`DEL failed: ${shortError(failed[0])}`);
      return replies.reduce((n, [, v]) => n + Number(v), 0);
    };
    await inBatches(opts.count, opts.onProgress, async (from, to) => {
      const keys: string[] = [];
      for (let i = from; i < to; i++) keys.push(keyAt(prefix, i));
      deleted += await del(proxy, keys);
      for (const c of direct) strays += await del(c, keys);
    });
  } finally {
    proxy.disconnect();
    for (const c of direct) c.disconnect();
  }
  return { deleted, strays };
}
