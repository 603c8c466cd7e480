import type { Redis } from 'ioredis';

/**
 * Reads a batch of keys from a source in one read-only script (consistent: a script runs alone). For each key:
 * gone {0}; a collection over `bigBytes` (MEMORY USAGE) and `bigElements` long {2, type, length, expiry} (copied
 * in pieces instead); with `migrate` set, a key without expiry {3, size} (MIGRATE carries it from Redis to Redis,
 * no data through us; `size`, its MEMORY USAGE, bounds each MIGRATE); else {1, DUMP payload, absolute expiry}.
 * Keys with an expiry always take the DUMP path: MIGRATE sends the remaining TTL, so the absolute expiry would
 * shift by the call's duration, while RESTORE ... ABSTTL keeps it exactly. Two calls a key in the common case
 * (PEXPIRETIME, MEMORY USAGE): the script is about a third of the source's work per key. EVAL_RO is a read: it
 * runs during CLIENT PAUSE WRITE too (MIGRATE does not, so the cut's drain reads with `migrate` off).
 */
const READ_SCRIPT = `
local out = {}
local bigBytes = tonumber(ARGV[1])
local bigElements = tonumber(ARGV[2])
local migrate = ARGV[3] == '1'
for i, k in ipairs(KEYS) do
  local exp = redis.call('PEXPIRETIME', k)
  if exp == -2 then
    out[i] = {0}
  else
    local size = redis.call('MEMORY', 'USAGE', k)
    if size > bigBytes then
      local t = redis.call('TYPE', k)['ok']
      local n = 0
      if t == 'hash' then n = redis.call('HLEN', k)
      elseif t == 'set' then n = redis.call('SCARD', k)
      elseif t == 'zset' then n = redis.call('ZCARD', k)
      elseif t == 'list' then n = redis.call('LLEN', k)
      end
      if n > bigElements then out[i] = {2, t, n, exp} end
    end
    if out[i] == nil then
      if migrate and exp == -1 then out[i] = {3, size}
      else out[i] = {1, redis.call('DUMP', k), exp} end
    end
  end
end
return out`;

export interface CopyResult {
  copied: number;
  deleted: number;
  bytes: number;
  bigKeys: number;
  /** Of `copied`, how many MIGRATE carried. */
  migrated: number;
}

export function noneCopied(): CopyResult {
  return { copied: 0, deleted: 0, bytes: 0, bigKeys: 0, migrated: 0 };
}

/** Collections longer than this are copied in pieces, so no single command blocks the source for long. */
export const BIG_ELEMENTS = 5000;
/** Only keys whose MEMORY USAGE is over this are asked for their type and length. */
const BIG_BYTES = 64 * 1024;
const PIECE = 1000;
/**
 * One MIGRATE blocks its source until the destination has answered every RESTORE in it: a batch is cut at this
 * many bytes (about a millisecond on loopback), so the source keeps serving between batches.
 */
export const MIGRATE_BATCH_BYTES = 1_000_000;

/** Where MIGRATE sends (the destination master itself, as the source reaches it) and with what credentials. */
export interface MigrateTarget {
  host: string;
  port: number;
  db: number;
  password: string | null;
  timeoutMs: number;
}

type ReadItem = [0] | [1, Buffer, number] | [2, Buffer, number, number] | [3, number];

/**
 * Copies `keys` from `src` to `dst` exactly as they are now: RESTORE ... REPLACE ABSTTL keeps the same absolute
 * expiry; a key gone at the source is removed at the destination (it may have been copied earlier). With
 * `migrate`, keys without expiry go by MIGRATE ... COPY REPLACE from the source (a write command: not during a
 * CLIENT PAUSE WRITE).
 */
export async function copyKeys(src: Redis, dst: Redis, keys: Buffer[], tmpPrefix: string, migrate: MigrateTarget | null = null): Promise<CopyResult> {
  const r = noneCopied();
  if (keys.length === 0) return r;
  const items = (await src.callBuffer('EVAL_RO', READ_SCRIPT, keys.length, ...keys, String(BIG_BYTES), String(BIG_ELEMENTS), migrate ? '1' : '0')) as ReadItem[];
  const p = dst.pipeline();
  let restores = 0;
  const big: Array<{ key: Buffer; type: string }> = [];
  const batches: Buffer[][] = [];
  let batch: Buffer[] = [];
  let batchBytes = 0;
  items.forEach((it, i) => {
    const key = keys[i]!;
    const code = Number(it[0]);
    if (code === 0) {
      p.unlink(key);
      restores++;
      r.deleted++;
    } else if (code === 1) {
      const payload = it[1] as Buffer;
      const exp = Number(it[2]);
      // -1: no expiry (RESTORE takes 0). An expiry already past makes RESTORE ... ABSTTL store nothing.
      p.callBuffer('RESTORE', key, String(exp > 0 ? exp : 0), payload, 'REPLACE', 'ABSTTL');
      restores++;
      r.copied++;
      r.bytes += payload.length + key.length;
    } else if (code === 3) {
      const size = Number(it[1]) + key.length;
      if (batch.length > 0 && batchBytes + size > MIGRATE_BATCH_BYTES) {
        batches.push(batch);
        batch = [];
        batchBytes = 0;
      }
      batch.push(key);
      batchBytes += size;
      r.copied++;
      r.migrated++;
      r.bytes += size;
    } else {
      big.push({ key, type: String(it[1]) });
    }
  });
  if (batch.length > 0) batches.push(batch);
  const restored = restores > 0 ? p.exec() : Promise.resolve([]);
  // The MIGRATEs go out on the source's connection while the destination takes the RESTOREs on its own.
  const migrated = Promise.all(batches.map((b) => migrateBatch(src, migrate!, b)));
  const [replies] = await Promise.all([restored, migrated]);
  for (const [err] of replies ?? []) if (err) throw err;
  for (const b of big) {
    r.bytes += await copyInPieces(src, dst, b.key, b.type, tmpPrefix);
    r.copied++;
    r.bigKeys++;
  }
  return r;
}

/** One MIGRATE ... COPY REPLACE of a batch; keys gone meanwhile are skipped by Redis (their delete event marks them dirty). */
async function migrateBatch(src: Redis, t: MigrateTarget, keys: Buffer[]): Promise<void> {
  const auth = t.password !== null ? ['AUTH', t.password] : [];
  const reply = String(await src.callBuffer('MIGRATE', t.host, String(t.port), '', String(t.db), String(t.timeoutMs), 'COPY', 'REPLACE', ...auth, 'KEYS', ...keys));
  if (reply !== 'OK' && reply !== 'NOKEY') throw new Error(`MIGRATE to ${t.host}:${t.port}: ${reply}`);
}

/**
 * A big collection, piece by piece (HSCAN/SSCAN/ZSCAN/LRANGE, 1000 elements a step) into a temp key at the
 * destination, then RENAME over the key and the source's absolute expiry set, in one MULTI. A write to the key
 * meanwhile leaves the copy inexact, but it is also a keyspace event: the key is dirty and is copied again.
 */
async function copyInPieces(src: Redis, dst: Redis, key: Buffer, type: string, tmpPrefix: string): Promise<number> {
  const tmp = Buffer.concat([Buffer.from(tmpPrefix), key]);
  await dst.unlink(tmp);
  let bytes = 0;
  if (type === 'list') {
    for (let at = 0; ; at += PIECE) {
      const part = (await src.lrangeBuffer(key, at, at + PIECE - 1)) as Buffer[];
      if (part.length === 0) break;
      await dst.rpush(tmp, ...part);
      bytes += part.reduce((a, b) => a + b.length, 0);
      if (part.length < PIECE) break;
    }
  } else {
    const cmd = type === 'hash' ? 'HSCAN' : type === 'set' ? 'SSCAN' : 'ZSCAN';
    let cursor = '0';
    do {
      const [next, flat] = (await src.callBuffer(cmd, key, cursor, 'COUNT', String(PIECE))) as [Buffer, Buffer[]];
      cursor = next.toString();
      if (flat.length === 0) continue;
      bytes += flat.reduce((a, b) => a + b.length, 0);
      if (type === 'hash') await dst.callBuffer('HSET', tmp, ...flat);
      else if (type === 'set') await dst.callBuffer('SADD', tmp, ...flat);
      else {
        const args: Buffer[] = [];
        for (let i = 0; i < flat.length; i += 2) args.push(flat[i + 1]!, flat[i]!);
        await dst.callBuffer('ZADD', tmp, ...args);
      }
    } while (cursor !== '0');
  }
  const exp = Number(await src.call('PEXPIRETIME', key));
  const m = dst.multi();
  if (exp === -2) m.unlink(tmp).unlink(key);
  else {
    m.rename(tmp, key);
    if (exp > 0) m.pexpireat(key, exp);
  }
  const replies = (await m.exec()) ?? [];
  for (const [err] of replies) if (err) throw err;
  return bytes;
}

/** Per-second token bucket: `take(n)` resolves when n more keys fit in the rate. */
export class RateLimiter {
  private windowStart = Date.now();
  private used = 0;
  constructor(private readonly perSec: number | null) {}
  async take(n: number): Promise<void> {
    if (this.perSec === null) return;
    for (;;) {
      const now = Date.now();
      if (now - this.windowStart >= 1000) {
        this.windowStart = now;
        this.used = 0;
      }
      if (this.used + n <= this.perSec || this.used === 0) {
        this.used += n;
        return;
      }
      await new Promise((r) => setTimeout(r, 1000 - (now - this.windowStart)));
    }
  }
}

/**
 * SCAN a whole instance, handing each page to `each` while the next pages are fetched: up to `inFlight` pages
 * are being handled at once (they are independent keys; order does not matter). The first error stops it.
 */
export async function scanPipelined(c: Redis, each: (keys: Buffer[]) => Promise<void>, count: number, inFlight: number): Promise<void> {
  const running = new Set<Promise<void>>();
  let failed: { e: unknown } | null = null;
  let cursor = '0';
  do {
    const [next, keys] = (await c.scanBuffer(cursor, 'COUNT', count)) as unknown as [Buffer, Buffer[]];
    cursor = next.toString();
    if (keys.length === 0) continue;
    const p: Promise<void> = each(keys).catch((e: unknown) => {
      failed ??= { e };
    }).finally(() => running.delete(p));
    running.add(p);
    while (running.size >= inFlight) await Promise.race(running);
    if (failed) break;
  } while (cursor !== '0');
  await Promise.all(running);
  if (failed) throw (failed as { e: unknown }).e;
}

/** SCAN a whole instance; `each` gets each page of keys (as bytes). */
export async function scanAll(c: Redis, each: (keys: Buffer[]) => Promise<void>, count = 2000): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = (await c.scanBuffer(cursor, 'COUNT', count)) as unknown as [Buffer, Buffer[]];
    cursor = next.toString();
    if (keys.length > 0) await each(keys);
  } while (cursor !== '0');
}
