import type { Redis } from 'ioredis';

/**
 * Reads a batch of keys from a source in one read-only script: for each key its DUMP payload and absolute
 * expiry (consistent: a script runs alone), or, for a collection longer than `bigElements`, only its type and
 * length so it is copied in pieces instead. EVAL_RO is a read: it runs during CLIENT PAUSE WRITE too.
 */
const READ_SCRIPT = `
local out = {}
local big = tonumber(ARGV[1])
for i, k in ipairs(KEYS) do
  local t = redis.call('TYPE', k)['ok']
  if t == 'none' then
    out[i] = {0}
  else
    local n = 0
    if t == 'hash' then n = redis.call('HLEN', k)
    elseif t == 'set' then n = redis.call('SCARD', k)
    elseif t == 'zset' then n = redis.call('ZCARD', k)
    elseif t == 'list' then n = redis.call('LLEN', k)
    end
    local exp = redis.call('PEXPIRETIME', k)
    if n > big then out[i] = {2, t, n, exp}
    else out[i] = {1, redis.call('DUMP', k), exp} end
  end
end
return out`;

export interface CopyResult {
  copied: number;
  deleted: number;
  bytes: number;
  bigKeys: number;
}

/** Collections longer than this are copied in pieces, so no single command blocks the source for long. */
export const BIG_ELEMENTS = 5000;
const PIECE = 1000;

type ReadItem = [0] | [1, Buffer, number] | [2, Buffer, number, number];

/**
 * Copies `keys` from `src` to `dst` exactly as they are now: RESTORE ... REPLACE ABSTTL keeps the same absolute
 * expiry; a key gone at the source is removed at the destination (it may have been copied earlier).
 */
export async function copyKeys(src: Redis, dst: Redis, keys: Buffer[], tmpPrefix: string): Promise<CopyResult> {
  const r: CopyResult = { copied: 0, deleted: 0, bytes: 0, bigKeys: 0 };
  if (keys.length === 0) return r;
  const items = (await src.callBuffer('EVAL_RO', READ_SCRIPT, keys.length, ...keys, String(BIG_ELEMENTS))) as ReadItem[];
  const p = dst.pipeline();
  const big: Array<{ key: Buffer; type: string }> = [];
  items.forEach((it, i) => {
    const key = keys[i]!;
    const code = Number(it[0]);
    if (code === 0) {
      p.unlink(key);
      r.deleted++;
    } else if (code === 1) {
      const payload = it[1] as Buffer;
      const exp = Number(it[2]);
      // -1: no expiry (RESTORE takes 0). An expiry already past makes RESTORE ... ABSTTL store nothing.
      p.callBuffer('RESTORE', key, String(exp > 0 ? exp : 0), payload, 'REPLACE', 'ABSTTL');
      r.copied++;
      r.bytes += payload.length + key.length;
    } else {
      big.push({ key, type: String(it[1]) });
    }
  });
  const replies = (await p.exec()) ?? [];
  for (const [err] of replies) if (err) throw err;
  for (const b of big) {
    r.bytes += await copyInPieces(src, dst, b.key, b.type, tmpPrefix);
    r.copied++;
    r.bigKeys++;
  }
  return r;
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

/** SCAN a whole instance; `each` gets each page of keys (as bytes). */
export async function scanAll(c: Redis, each: (keys: Buffer[]) => Promise<void>, count = 2000): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = (await c.scanBuffer(cursor, 'COUNT', count)) as unknown as [Buffer, Buffer[]];
    cursor = next.toString();
    if (keys.length > 0) await each(keys);
  } while (cursor !== '0');
}
