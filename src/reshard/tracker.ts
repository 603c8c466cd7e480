import type { Redis } from 'ioredis';
import { redisClient } from '../runtime/index.js';

/**
 * Dirty tracking on one source master: keyspace notifications of every write, expiry and eviction, kept only
 * for keys that leave this shard. Subscribed before the source is scanned (SCAN misses keys written during
 * it). A dropped connection loses events for good: `lost` is then set, and the caller re-passes the source.
 */
export class DirtyTracker {
  readonly dirty = new Map<string, Buffer>();
  lost = false;
  private sub: Redis | null = null;
  private prefix: Buffer;

  constructor(
    readonly shard: string,
    readonly addr: string,
    private readonly password: string | null,
    private readonly db: number,
    /** Whether a key written on this shard must be copied (it leaves this shard). */
    private readonly leaves: (key: Buffer) => boolean,
  ) {
    this.prefix = Buffer.from(`__keyspace@${db}__:`);
  }

  async start(): Promise<void> {
    const sub = redisClient(this.addr, this.password, { timeoutMs: 5000 });
    this.sub = sub;
    sub.on('close', () => {
      if (this.sub === sub) this.lost = true;
    });
    sub.on('pmessageBuffer', (_pattern: Buffer, channel: Buffer) => {
      const key = channel.subarray(this.prefix.length);
      if (this.leaves(key)) this.dirty.set(key.toString('latin1'), Buffer.from(key));
    });
    await sub.connect();
    await sub.psubscribe(`__keyspace@${this.db}__:*`);
  }

  /**
   * Resolves once every event published before now has arrived: a PING on the subscription connection is
   * answered after the messages queued before it.
   */
  async barrier(): Promise<void> {
    if (!this.sub) throw new Error('not subscribed');
    await this.sub.ping();
  }

  /** Takes (and clears) up to `max` dirty keys: taken before they are read, so a write after re-marks them. */
  take(max = Number.MAX_SAFE_INTEGER): Buffer[] {
    const out: Buffer[] = [];
    for (const [k, v] of this.dirty) {
      if (out.length >= max) break;
      out.push(v);
      this.dirty.delete(k);
    }
    return out;
  }

  close(): void {
    const s = this.sub;
    this.sub = null;
    s?.disconnect();
  }
}
