import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { encodeCommand } from '../engine/index.js';
import { mustParseAddress } from '../topology/index.js';
import { writeCrc64 } from './crc64.js';
import { rdbStringAt, RdbUnsupported, type RdbEntry } from './rdb-reader.js';

const SEGMENT = 1 << 20;
const HEAD = Buffer.from('*6\r\n$7\r\nRESTORE\r\n');
const SET = Buffer.from('$3\r\nSET\r\n');
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
  const s = String(n);
  for (let i = 0; i < s.length; i++) b[at + i] = s.charCodeAt(i);
  return at + s.length;
}

/** A bulk string of `src[start, end)`. */
function bulk(b: Buffer, at: number, src: Buffer, start: number, end: number): number {
  at = header(b, at, 36, end - start);
  at += src.copy(b, at, start, end);
  b[at++] = 13;
  b[at++] = 10;
  return at;
}

/** A bulk string of a number's decimal digits. */
function bulkNumber(b: Buffer, at: number, n: number): number {
  const s = String(n);
  at = header(b, at, 36, s.length);
  for (let i = 0; i < s.length; i++) b[at + i] = s.charCodeAt(i);
  at += s.length;
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
   * Queues one key read from an RDB: a string as SET (with PXAT, its absolute expiry), which costs the destination
   * and each of its replicas less than half of a RESTORE; any other value as RESTORE. A string whose expiry has
   * passed goes as RESTORE too, which removes the key (SET would store it, expired). Returns the bytes sent.
   */
  addEntry(e: RdbEntry, rdbVersion: number, now: number): number {
    if (e.type !== 0 || (e.expireMs !== -1 && e.expireMs <= now)) return this.add(e.key, e.expireMs, e.type, rdbVersion, e.source, e.start, e.end);
    return this.addSet(e.key, rdbStringAt(e.source, e.start), e.expireMs);
  }

  /** Queues SET key value [PXAT expireMs]. */
  addSet(key: Buffer, value: Buffer, expireMs: number): number {
    const pxat = expireMs > 0;
    this.reserve(64 + key.length + value.length);
    const b = this.cur;
    let at = this.at;
    at = header(b, at, 42 /* '*' */, pxat ? 5 : 3);
    at += SET.copy(b, at);
    at = bulk(b, at, key, 0, key.length);
    at = bulk(b, at, value, 0, value.length);
    if (pxat) {
      at += PXAT.copy(b, at);
      at = bulkNumber(b, at, expireMs);
    }
    this.at = at;
    this.sent++;
    return key.length + value.length;
  }

  /** Queues one RESTORE of a value read from an RDB (`src[start, end)`, of RDB `type`), checksummed as DUMP would. */
  add(key: Buffer, expireMs: number, type: number, rdbVersion: number, src: Buffer, start: number, end: number): number {
    const payloadLen = 1 + (end - start) + 2 + 8;
    this.reserve(HEAD.length + 80 + key.length + payloadLen + TAIL.length);
    const b = this.cur;
    let at = this.at;
    at += HEAD.copy(b, at);
    at = bulk(b, at, key, 0, key.length);
    at = bulkNumber(b, at, expireMs > 0 ? expireMs : 0);
    at = header(b, at, 36 /* '$' */, payloadLen);
    const payloadAt = at;
    b[at++] = type;
    at += src.copy(b, at, start, end);
    b.writeUInt16LE(rdbVersion, at);
    at += 2;
    writeCrc64(b, payloadAt, at, b, at);
    at += 8;
    b[at++] = 13;
    b[at++] = 10;
    at += TAIL.copy(b, at);
    this.at = at;
    this.sent++;
    return payloadLen + key.length;
  }

  /** Writes what is queued and waits until at most `below` commands are unanswered; the first error reply throws. */
  async drain(below: number): Promise<void> {
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
