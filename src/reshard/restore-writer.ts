import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { encodeCommand } from '../engine/index.js';
import { mustParseAddress } from '../topology/index.js';
import { writeCrc64 } from './crc64.js';
import { lengthAt, plainStringStart, RDB_INT_BYTES, rdbIntAt, rdbStringAt, RdbUnsupported, type RdbEntry } from './rdb-reader.js';

const SEGMENT = 1 << 20;
/**
 * Strings without an expiry go as MSET of up to this many keys (and MSET_BYTES): it costs the destination and each
 * of its replicas little more than half as much per key as a SET each (`npm run bench:dest-commands`). An MSET of
 * 128 small keys runs in well under a millisecond.
 */
const MSET_KEYS = 128;
const MSET_BYTES = 64 * 1024;
/**
 * A set kept as a hash table (RDB type 2: Redis 7.0 has no small encoding for a set of strings) costs a
 * destination and its two replicas less CPU as SADD of its members than as RESTORE (bench:dest-commands). Sets
 * without an expiry and of up to SADD_MEMBERS members go as SADD, after one DEL of all the keys of a batch (a
 * copy from an earlier pass must not keep members the source no longer has).
 */
const SADD_MEMBERS = 512;
const SADD_BYTES = 64 * 1024;
const SADD_KEYS = 128;
const SADD = Buffer.from('$4\r\nSADD\r\n');
const DEL = Buffer.from('$3\r\nDEL\r\n');
const HEAD = Buffer.from('*6\r\n$7\r\nRESTORE\r\n');
const SET = Buffer.from('$3\r\nSET\r\n');
const MSET = Buffer.from('$4\r\nMSET\r\n');
const PXAT = Buffer.from('$4\r\nPXAT\r\n');

/** `*n\r\n` or `$n\r\n` at `at`; returns the position after it. */
function header(b: Buffer, at: number, mark: number, n: number): number {
  b[at++] = mark;
  at = digits(b, at, n);
  b[at++] = 13;
  b[at++] = 10;
  return at;
}

function digits(b: Buffer, at: number, n: number): number {
  if (n < 10) {
    b[at] = 48 + n;
    return at + 1;
  }
  return ascii(b, at, String(n));
}

/** The characters of `s` (ASCII) at `at`; returns the position after them. */
function ascii(b: Buffer, at: number, s: string): number {
  for (let i = 0; i < s.length; i++) b[at + i] = s.charCodeAt(i);
  return at + s.length;
}

/** `src[start, end)` copied to `b` at `at`; returns the position after it. */
function copyBytes(b: Buffer, at: number, src: Buffer, start: number, end: number): number {
  // Most keys and small values are a few dozen bytes: a loop costs less than Buffer#copy's native call.
  if (end - start < 64) {
    for (let i = start; i < end; i++) b[at++] = src[i]!;
    return at;
  }
  return at + src.copy(b, at, start, end);
}

/** A bulk string of `src[start, end)`. */
function bulk(b: Buffer, at: number, src: Buffer, start: number, end: number): number {
  at = header(b, at, 36, end - start);
  at = copyBytes(b, at, src, start, end);
  b[at++] = 13;
  b[at++] = 10;
  return at;
}

/** A bulk string of a number's decimal digits. */
function bulkNumber(b: Buffer, at: number, n: number): number {
  const s = String(n);
  at = header(b, at, 36, s.length);
  at = ascii(b, at, s);
  b[at++] = 13;
  b[at++] = 10;
  return at;
}
const TAIL = Buffer.from('$7\r\nREPLACE\r\n$6\r\nABSTTL\r\n');

/**
 * RESTORE ... REPLACE ABSTTL (and SET) commands to one destination master on a connection of its own, written as raw RESP
 * in big pipelined writes. A client library spends more CPU per command than the destination does on RESTORE
 * itself; this is the hot path of a snapshot copy (hundreds of thousands of keys a second), so it is kept to
 * buffer copies and a count of replies (each reply is +OK or an error line).
 */
export class RestoreWriter {
  private segments: Buffer[] = [];
  private cur = Buffer.allocUnsafe(SEGMENT);
  /** `cur[start, at)` is queued and not yet handed to the socket; `cur[0, start)` is, and must not be reused. */
  private start = 0;
  private at = 0;
  /** Key/value pairs of the MSET being gathered (`msetKeys` of them in `mset[0, msetAt)`). */
  private readonly mset = Buffer.allocUnsafe(MSET_BYTES);
  private msetAt = 0;
  private msetKeys = 0;
  /** SADD commands waiting (`saddKeys` of them in `sadd[0, saddAt)`), and their keys for the DEL that goes first. */
  private readonly sadd = Buffer.allocUnsafe(SADD_BYTES);
  private saddAt = 0;
  private readonly saddDel = Buffer.allocUnsafe(SADD_BYTES);
  private saddDelAt = 0;
  private saddKeys = 0;
  private sent = 0;
  private acked = 0;
  /** Inside a reply line that began in an earlier chunk; its text so far when it is an error line. */
  private lineOpen = false;
  private lineErr: string | null = null;
  private error: Error | null = null;
  private waiter: { below: number; resolve: () => void } | null = null;

  private constructor(private readonly sock: Socket, private readonly addr: string) {
    sock.on('data', (d: Buffer) => this.onReplies(d));
    sock.on('error', (e) => this.fail(new Error(`${addr}: ${e.message}`)));
    sock.on('close', () => this.fail(new Error(`${addr}: connection closed`)));
  }

  static async open(addr: string, password: string | null, db: number, timeoutMs: number): Promise<RestoreWriter> {
    const { host, port } = mustParseAddress(addr);
    const sock = connect({ host, port });
    sock.setNoDelay(true);
    const timer = setTimeout(() => sock.destroy(new Error(`no connection within ${timeoutMs} ms`)), timeoutMs);
    try {
      await once(sock, 'connect');
    } finally {
      clearTimeout(timer);
    }
    const w = new RestoreWriter(sock, addr);
    const hello = (password !== null ? encodeCommand(['AUTH', password]) : '') + encodeCommand(['SELECT', String(db)]);
    w.sent += password !== null ? 2 : 1;
    sock.write(hello);
    await w.drain(0);
    return w;
  }

  get inFlight(): number {
    return this.sent - this.acked;
  }

  /**
   * Queues one key read from an RDB: a string as SET (with PXAT, its absolute expiry) or, without an expiry, in an
   * MSET; the destination and each of its replicas spend less on a SET than on a RESTORE, and far less per key on
   * an MSET (`npm run bench:dest-commands`). A set of strings
   * without an expiry as SADD (see SADD_MEMBERS). Any other value goes as RESTORE. A string whose expiry has passed
   * goes as RESTORE too, which removes the key (SET would store it, expired). Returns the bytes sent.
   */
  addEntry(e: RdbEntry, rdbVersion: number, now: number): number {
    if (e.type === 2 && e.expireMs === -1) {
      const bytes = this.addSadd(e);
      if (bytes >= 0) return bytes;
    }
    if (e.type !== 0 || (e.expireMs !== -1 && e.expireMs <= now)) {
      return this.add(e.keyBuf, e.keyStart, e.keyEnd, e.expireMs, e.type, rdbVersion, e.source, e.start, e.end);
    }
    const plain = plainStringStart(e.source, e.start);
    if (plain >= 0) return this.addString(e.keyBuf, e.keyStart, e.keyEnd, e.source, plain, e.end, e.expireMs);
    const v = rdbStringAt(e.source, e.start);
    return this.addString(e.keyBuf, e.keyStart, e.keyEnd, v, 0, v.length, e.expireMs);
  }

  /** Queues SET key value [PXAT expireMs] (no expiry: a pair of an MSET). */
  addSet(key: Buffer, value: Buffer, expireMs: number): number {
    return this.addString(key, 0, key.length, value, 0, value.length, expireMs);
  }

  private addString(kb: Buffer, ks: number, ke: number, vb: Buffer, vs: number, ve: number, expireMs: number): number {
    const size = 32 + (ke - ks) + (ve - vs);
    if (expireMs > 0 || size > MSET_BYTES) return this.addSetCommand(kb, ks, ke, vb, vs, ve, expireMs);
    if (this.msetAt + size > MSET_BYTES) this.flushMset();
    let at = bulk(this.mset, this.msetAt, kb, ks, ke);
    at = bulk(this.mset, at, vb, vs, ve);
    this.msetAt = at;
    if (++this.msetKeys === MSET_KEYS) this.flushMset();
    return (ke - ks) + (ve - vs);
  }

  private addSetCommand(kb: Buffer, ks: number, ke: number, vb: Buffer, vs: number, ve: number, expireMs: number): number {
    const pxat = expireMs > 0;
    this.reserve(64 + (ke - ks) + (ve - vs));
    const b = this.cur;
    let at = this.at;
    at = header(b, at, 42 /* '*' */, pxat ? 5 : 3);
    at += SET.copy(b, at);
    at = bulk(b, at, kb, ks, ke);
    at = bulk(b, at, vb, vs, ve);
    if (pxat) {
      at += PXAT.copy(b, at);
      at = bulkNumber(b, at, expireMs);
    }
    this.at = at;
    this.sent++;
    return (ke - ks) + (ve - vs);
  }

  /**
   * A set (RDB type 2) as SADD of its members, or -1 when it is too big or holds an LZF member (it goes as
   * RESTORE). Returns the bytes sent.
   */
  private addSadd(e: RdbEntry): number {
    const src = e.source;
    const count = lengthAt(src, e.start);
    const keyLen = e.keyEnd - e.keyStart;
    // Worst case: every member an integer written as up to 11 digits, each with its bulk header.
    const size = 32 + keyLen + (e.end - e.start) + 24 * count.n;
    if (count.enc >= 0 || count.n > SADD_MEMBERS || size > SADD_BYTES / 2) return -1;
    if (this.saddAt + size > SADD_BYTES || this.saddDelAt + keyLen + 16 > SADD_BYTES) this.flushSadd();
    const b = this.sadd;
    let at = header(b, this.saddAt, 42 /* '*' */, 2 + count.n);
    at += SADD.copy(b, at);
    at = bulk(b, at, e.keyBuf, e.keyStart, e.keyEnd);
    let p = count.next;
    for (let i = 0; i < count.n; i++) {
      const m = lengthAt(src, p);
      if (m.enc < 0) {
        at = bulk(b, at, src, m.next, m.next + m.n);
        p = m.next + m.n;
      } else if (m.enc <= 2) {
        at = bulkNumber(b, at, rdbIntAt(src, m.enc, m.next));
        p = m.next + RDB_INT_BYTES[m.enc]!;
      } else {
        return -1; // LZF (the command written so far is dropped: saddAt is not moved)
      }
    }
    this.saddAt = at;
    this.saddDelAt = bulk(this.saddDel, this.saddDelAt, e.keyBuf, e.keyStart, e.keyEnd);
    if (++this.saddKeys === SADD_KEYS) this.flushSadd();
    return keyLen + (e.end - e.start);
  }

  /** DEL of the keys of the SADDs waiting, then the SADDs. */
  private flushSadd(): void {
    if (this.saddKeys === 0) return;
    this.reserve(32 + this.saddDelAt + this.saddAt);
    const b = this.cur;
    let at = header(b, this.at, 42 /* '*' */, 1 + this.saddKeys);
    at += DEL.copy(b, at);
    at += this.saddDel.copy(b, at, 0, this.saddDelAt);
    at += this.sadd.copy(b, at, 0, this.saddAt);
    this.at = at;
    this.sent += 1 + this.saddKeys;
    this.saddAt = 0;
    this.saddDelAt = 0;
    this.saddKeys = 0;
  }

  /** The MSET gathered so far, queued as one command. */
  private flushMset(): void {
    if (this.msetKeys === 0) return;
    this.reserve(32 + this.msetAt);
    const b = this.cur;
    let at = header(b, this.at, 42 /* '*' */, 1 + 2 * this.msetKeys);
    at += MSET.copy(b, at);
    at += this.mset.copy(b, at, 0, this.msetAt);
    this.at = at;
    this.sent++;
    this.msetAt = 0;
    this.msetKeys = 0;
  }

  /**
   * Queues one RESTORE of a value read from an RDB (`src[start, end)`, of RDB `type`), checksummed as DUMP would;
   * the key is `kb[ks, ke)`.
   */
  add(kb: Buffer, ks: number, ke: number, expireMs: number, type: number, rdbVersion: number, src: Buffer, start: number, end: number): number {
    const payloadLen = 1 + (end - start) + 2 + 8;
    this.reserve(HEAD.length + 80 + (ke - ks) + payloadLen + TAIL.length);
    const b = this.cur;
    let at = this.at;
    at += HEAD.copy(b, at);
    at = bulk(b, at, kb, ks, ke);
    at = bulkNumber(b, at, expireMs > 0 ? expireMs : 0);
    at = header(b, at, 36 /* '$' */, payloadLen);
    const payloadAt = at;
    b[at++] = type;
    at = copyBytes(b, at, src, start, end);
    b.writeUInt16LE(rdbVersion, at);
    at += 2;
    writeCrc64(b, payloadAt, at, b, at);
    at += 8;
    b[at++] = 13;
    b[at++] = 10;
    at += TAIL.copy(b, at);
    this.at = at;
    this.sent++;
    return payloadLen + (ke - ks);
  }

  /** Writes what is queued and waits until at most `below` commands are unanswered; the first error reply throws. */
  async drain(below: number): Promise<void> {
    this.flushMset();
    this.flushSadd();
    this.writeQueued();
    if (this.error) throw this.error;
    if (this.inFlight <= below) return;
    await new Promise<void>((resolve) => (this.waiter = { below, resolve }));
    if (this.error) throw this.error;
  }

  close(): void {
    this.sock.destroy();
  }

  private writeQueued(): void {
    if (this.at > this.start) {
      this.segments.push(this.cur.subarray(this.start, this.at));
      this.start = this.at;
    }
    for (const s of this.segments) this.sock.write(s);
    this.segments = [];
  }

  private reserve(size: number): void {
    if (this.at + size <= this.cur.length) return;
    if (this.at > this.start) this.segments.push(this.cur.subarray(this.start, this.at));
    this.cur = Buffer.allocUnsafe(Math.max(SEGMENT, size));
    this.start = 0;
    this.at = 0;
  }

  /** Counts reply lines (+OK, or an error line, kept as text) without making a string of each. */
  private onReplies(d: Buffer): void {
    let from = 0;
    while (from < d.length) {
      if (!this.lineOpen) {
        this.lineOpen = true;
        this.lineErr = d[from] === 45 /* '-' */ ? '' : null;
      }
      const nl = d.indexOf(10, from);
      const end = nl < 0 ? d.length : nl;
      if (this.lineErr !== null) this.lineErr += d.toString('latin1', from, end);
      if (nl < 0) break;
      if (this.lineErr !== null && !this.error) {
        const line = this.lineErr.slice(1).replace(/\r$/, '');
        // A payload RESTORE refuses is this reader's mistake, not the data's: the caller copies another way.
        const E = /payload|Bad data format/i.test(line) ? RdbUnsupported : Error;
        this.error = new E(`RESTORE on ${this.addr}: ${line}`);
      }
      this.acked++;
      this.lineOpen = false;
      this.lineErr = null;
      from = nl + 1;
    }
    this.wake();
  }

  private fail(e: Error): void {
    this.error ??= e;
    this.wake(true);
  }

  private wake(always = false): void {
    const w = this.waiter;
    if (w && (always || this.error || this.inFlight <= w.below)) {
      this.waiter = null;
      w.resolve();
    }
  }
}
