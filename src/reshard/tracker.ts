import { connect, type Socket } from 'node:net';
import { encodeCommand } from '../engine/index.js';
import { mustParseAddress } from '../topology/index.js';

/** `*`, `+`, `-`, `:` */
const ARRAY = 42;
const SIMPLE = 43;
const ERROR = 45;
const INTEGER = 58;

/**
 * Dirty tracking on one source master: keyspace notifications of every write, expiry and eviction, kept only
 * for keys that leave this shard. Subscribed before the source is scanned (SCAN misses keys written during
 * it). A dropped connection loses events for good: `lost` is then set, and the caller re-passes the source.
 *
 * The subscription is a raw connection read by hand: when the shard also receives keys (a hash change), every
 * key the copy writes to it is an event too, hundreds of thousands a second, and a client library makes objects
 * of each where this reads it in place.
 */
export class DirtyTracker {
  readonly dirty = new Map<string, Buffer>();
  lost = false;
  private sock: Socket | null = null;
  private readonly prefix: Buffer;
  /** Bytes of a reply cut by the end of a chunk. */
  private rest: Buffer | null = null;
  /** Replies before the subscription is confirmed (AUTH, PSUBSCRIBE), then PING's pongs. */
  private waiters: Array<{ resolve: () => void; reject: (e: Error) => void; timer: NodeJS.Timeout | null }> = [];

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
    const { host, port } = mustParseAddress(this.addr);
    const sock = connect({ host, port });
    sock.setNoDelay(true);
    this.sock = sock;
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('error', () => {}); // 'close' follows
    sock.on('close', () => {
      if (this.sock === sock) this.lost = true;
      this.failWaiters(new Error(`${this.addr}: the keyspace subscription closed`));
    });
    const replies = [...(this.password !== null ? [this.expect()] : []), this.expect()];
    if (this.password !== null) sock.write(encodeCommand(['AUTH', this.password]));
    sock.write(encodeCommand(['PSUBSCRIBE', `__keyspace@${this.db}__:*`]));
    try {
      await Promise.all(replies);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /**
   * Resolves once every event published before now has arrived: a PING on the subscription connection is
   * answered after the messages queued before it.
   */
  async barrier(): Promise<void> {
    if (!this.sock || this.lost) throw new Error(`${this.addr}: not subscribed`);
    const pong = this.expect();
    this.sock.write('*1\r\n$4\r\nPING\r\n');
    await pong;
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
    const s = this.sock;
    this.sock = null;
    s?.destroy();
    this.failWaiters(new Error(`${this.addr}: the keyspace subscription was closed`));
  }

  /** The next reply other than an event (5 s, as for any command). */
  private expect(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const w = { resolve, reject, timer: null as NodeJS.Timeout | null };
      w.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`${this.addr}: no reply on the keyspace subscription within 5000 ms`));
        // Later replies would be matched to the wrong waiter: the subscription is unusable.
        this.lost = true;
        this.sock?.destroy();
      }, 5000);
      this.waiters.push(w);
    });
  }

  private reply(err: string | null): void {
    const w = this.waiters.shift();
    if (!w) return;
    if (w.timer) clearTimeout(w.timer);
    if (err === null) w.resolve();
    else w.reject(new Error(`${this.addr}: ${err}`));
  }

  private failWaiters(e: Error): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(e);
    }
  }

  private onData(chunk: Buffer): void {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = null;
    let at = 0;
    try {
      while (at < buf.length) {
        const next = this.oneReply(buf, at);
        if (next < 0) break;
        at = next;
      }
    } catch (e) {
      // Nothing after a reply we cannot read can be trusted: the subscription is lost, and the pass starts over.
      this.lost = true;
      this.sock?.destroy();
      this.failWaiters(e as Error);
      return;
    }
    if (at < buf.length) this.rest = Buffer.from(buf.subarray(at));
  }

  /** Handles the reply at `at`; returns where the next one starts, or -1 when it is not all here yet. */
  private oneReply(b: Buffer, at: number): number {
    const type = b[at];
    if (type === SIMPLE || type === ERROR || type === INTEGER) {
      const eol = b.indexOf(13, at);
      if (eol < 0 || eol + 1 >= b.length) return -1;
      if (type !== INTEGER) this.reply(type === ERROR ? b.toString('latin1', at + 1, eol) : null);
      return eol + 2;
    }
    if (type !== ARRAY) throw new Error(`${this.addr}: unexpected reply on the keyspace subscription`);
    // pmessage pattern channel event | pong "" | psubscribe pattern count: bulk strings, and an integer last.
    // Lengths read digit by digit: no string per header, no view per element (hundreds of thousands a second).
    let p = at + 1;
    let n = 0;
    while (p < b.length && b[p] !== 13) n = n * 10 + b[p++]! - 48;
    if (p + 1 >= b.length) return -1;
    p += 2;
    let first = -1;
    let firstLen = 0;
    let channel = -1;
    let channelEnd = -1;
    for (let i = 0; i < n; i++) {
      if (p >= b.length) return -1;
      const kind = b[p++];
      let len = 0;
      let negative = false;
      if (b[p] === 45) {
        negative = true;
        p++;
      }
      while (p < b.length && b[p] !== 13) len = len * 10 + b[p++]! - 48;
      if (p + 1 >= b.length) return -1;
      p += 2;
      if (kind === INTEGER || negative) continue; // an integer, or a null bulk string: nothing follows
      if (p + len + 2 > b.length) return -1;
      if (i === 0) {
        first = p;
        firstLen = len;
      } else if (i === 2) {
        channel = p;
        channelEnd = p + len;
      }
      p += len + 2;
    }
    // "pmessage" and "pong" are the only replies that start with p.
    if (first >= 0 && b[first] === 112 && firstLen === 8 && channel >= 0) {
      const key = b.subarray(channel + this.prefix.length, channelEnd);
      if (this.leaves(key)) this.dirty.set(key.toString('latin1'), Buffer.from(key));
    } else {
      this.reply(null); // pong, or the psubscribe confirmation
    }
    return p;
  }
}
