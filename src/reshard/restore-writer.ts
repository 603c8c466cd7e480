import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { encodeCommand } from '../engine/index.js';
import { mustParseAddress } from '../topology/index.js';
import { Crc64 } from './crc64.js';
import { rdbStringAt, RdbUnsupported, type RdbEntry } from './rdb-reader.js';

const SEGMENT = 1 << 20;
const HEAD = Buffer.from('*6\r\n$7\r\nRESTORE\r\n');
const SET = Buffer.from('$3\r\nSET\r\n');
const TAIL = Buffer.from('\r\n$7\r\nREPLACE\r\n$6\r\nABSTTL\r\n');

/**
 * RESTORE ... REPLACE ABSTTL (and SET) commands to one destination master on a connection of its own, written as raw RESP
 * in big pipelined writes. A client library spends more CPU per command than the destination does on RESTORE
 * itself; this is the hot path of a snapshot copy (hundreds of thousands of keys a second), so it is kept to
 * buffer copies and a count of replies (each reply is +OK or an error line).
 */
export class RestoreWriter {
  private segments: Buffer[] = [];
  private cur = Buffer.allocUnsafe(SEGMENT);
  private at = 0;
  private sent = 0;
  private acked = 0;
  private rest = '';
  private error: Error | null = null;
  private waiter: { below: number; resolve: () => void } | null = null;
  private readonly versionBytes = Buffer.alloc(2);

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
    const pxat = expireMs > 0 ? String(expireMs) : null;
    this.reserve(16 + SET.length + 24 + key.length + 24 + value.length + (pxat !== null ? 40 : 0));
    const b = this.cur;
    let at = this.at;
    at += b.write(pxat !== null ? '*5\r\n' : '*3\r\n', at, 'latin1');
    at += SET.copy(b, at);
    at += b.write(`$${key.length}\r\n`, at, 'latin1');
    at += key.copy(b, at);
    at += b.write(`\r\n$${value.length}\r\n`, at, 'latin1');
    at += value.copy(b, at);
    at += b.write(pxat !== null ? `\r\n$4\r\nPXAT\r\n$${pxat.length}\r\n${pxat}\r\n` : '\r\n', at, 'latin1');
    this.at = at;
    this.sent++;
    return key.length + value.length;
  }

  /** Queues one RESTORE of a value read from an RDB (`src[start, end)`, of RDB `type`), checksummed as DUMP would. */
  add(key: Buffer, expireMs: number, type: number, rdbVersion: number, src: Buffer, start: number, end: number): number {
    const ttl = String(expireMs > 0 ? expireMs : 0);
    const payloadLen = 1 + (end - start) + 2 + 8;
    const size = HEAD.length + 24 + key.length + 24 + ttl.length + 24 + payloadLen + TAIL.length;
    this.reserve(size);
    const b = this.cur;
    let at = this.at;
    at += HEAD.copy(b, at);
    at += b.write(`$${key.length}\r\n`, at, 'latin1');
    at += key.copy(b, at);
    at += b.write(`\r\n$${ttl.length}\r\n${ttl}\r\n$${payloadLen}\r\n`, at, 'latin1');
    const payloadAt = at;
    b[at++] = type;
    at += src.copy(b, at, start, end);
    this.versionBytes.writeUInt16LE(rdbVersion, 0);
    at += this.versionBytes.copy(b, at);
    new Crc64().update(b, payloadAt, at).writeLE(b, at);
    at += 8;
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
    if (this.at > 0) {
      this.segments.push(this.cur.subarray(0, this.at));
      this.cur = Buffer.allocUnsafe(SEGMENT);
      this.at = 0;
    }
    for (const s of this.segments) this.sock.write(s);
    this.segments = [];
  }

  private reserve(size: number): void {
    if (this.at + size <= this.cur.length) return;
    if (this.at > 0) this.segments.push(this.cur.subarray(0, this.at));
    this.cur = Buffer.allocUnsafe(Math.max(SEGMENT, size));
    this.at = 0;
  }

  private onReplies(d: Buffer): void {
    const text = this.rest + d.toString('latin1');
    let from = 0;
    for (;;) {
      const eol = text.indexOf('\r\n', from);
      if (eol < 0) break;
      if (text.charCodeAt(from) === 45 /* '-' */ && !this.error) {
        const line = text.slice(from + 1, eol);
        // A payload RESTORE refuses is this reader's mistake, not the data's: the caller copies another way.
        const E = /payload|Bad data format/i.test(line) ? RdbUnsupported : Error;
        this.error = new E(`RESTORE on ${this.addr}: ${line}`);
      }
      this.acked++;
      from = eol + 2;
    }
    this.rest = text.slice(from);
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
