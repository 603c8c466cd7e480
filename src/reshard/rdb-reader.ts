import { lzfDecompress } from './lzf.js';

/**
 * Reading an RDB stream (as Redis 7.0 writes it for a replica's full sync) one key at a time, without decoding
 * values: each value's bytes are exactly what DUMP would return for it before the version and checksum, so a
 * key can go to RESTORE straight from the snapshot. Only the value encodings 7.0 writes are stepped over; an
 * opcode or type it does not know (modules, older encodings, a newer RDB) is RdbUnsupported, and the caller
 * copies that source another way.
 */
export class RdbUnsupported extends Error {}

/** Valid only during the callback that gets it: `key` and `source` may be views into the reader's buffer. */
export interface RdbEntry {
  db: number;
  key: Buffer;
  /** Absolute expiry in ms, or -1. */
  expireMs: number;
  /** The RDB value type byte (the first byte of a DUMP payload). */
  type: number;
  /** The value's bytes: `source.subarray(start, end)`. */
  source: Buffer;
  start: number;
  end: number;
}

/** Not enough bytes buffered for the item being read: read again from its start once more arrive. */
const INCOMPLETE = Symbol('incomplete');

const OP = { FUNCTION2: 245, FUNCTION: 246, MODULE_AUX: 247, IDLE: 248, FREQ: 249, AUX: 250, RESIZEDB: 251, EXPIRETIME_MS: 252, EXPIRETIME: 253, SELECTDB: 254, EOF: 255 };

export class RdbReader {
  /** The RDB format version from the header (a DUMP payload carries it). */
  version = -1;
  done = false;
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /**
   * Bytes that must be buffered (from `pos`) before trying again after INCOMPLETE: any more for a small item, twice
   * as many for a big one (read again from its start each time, so doubling keeps a big value O(n)).
   */
  private need = 0;
  private db = 0;
  private expire = -1;
  private p = 0;

  /**
   * Feeds the next bytes; `each` is called for every key completed. Returns the bytes after the RDB's end once it
   * ended, else null. `final`: no more bytes will come (parse what is here whatever `need` says).
   */
  push(chunk: Buffer, each: (e: RdbEntry) => void, final = false): Buffer | null {
    if (this.done) return chunk;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (!final && this.buf.length - this.pos + this.pendingBytes < this.need) return null;
    this.buf = Buffer.concat([this.buf.subarray(this.pos), ...this.pending]);
    this.pos = 0;
    this.pending = [];
    this.pendingBytes = 0;
    this.need = 0;
    while (!this.done) {
      this.p = this.pos;
      try {
        this.item(each);
      } catch (e) {
        if (e !== INCOMPLETE) throw e;
        const have = this.buf.length - this.pos;
        this.need = have < 64 * 1024 ? have + 1 : 2 * have;
        return null;
      }
      this.pos = this.p;
    }
    return this.buf.subarray(this.pos);
  }

  private item(each: (e: RdbEntry) => void): void {
    if (this.version < 0) {
      this.have(9);
      const magic = this.buf.toString('latin1', this.p, this.p + 5);
      const version = Number(this.buf.toString('latin1', this.p + 5, this.p + 9));
      if (magic !== 'REDIS' || !Number.isInteger(version)) throw new Error('not an RDB stream (no REDIS header)');
      if (version > 10) throw new RdbUnsupported(`RDB version ${version} (this reader knows up to 10, Redis 7.0)`);
      this.p += 9;
      this.version = version;
      return;
    }
    this.have(1);
    const type = this.buf[this.p++]!;
    switch (type) {
      case OP.EOF:
        this.done = true;
        return;
      case OP.SELECTDB:
        this.db = this.len();
        return;
      case OP.RESIZEDB:
        this.len();
        this.len();
        return;
      case OP.AUX:
        this.skipString();
        this.skipString();
        return;
      case OP.FUNCTION2:
        this.skipString();
        return;
      case OP.EXPIRETIME_MS:
        this.have(8);
        this.expire = Number(this.buf.readBigUInt64LE(this.p));
        this.p += 8;
        return;
      case OP.EXPIRETIME:
        this.have(4);
        this.expire = this.buf.readUInt32LE(this.p) * 1000;
        this.p += 4;
        return;
      case OP.IDLE:
        this.len();
        return;
      case OP.FREQ:
        this.have(1);
        this.p += 1;
        return;
      case OP.FUNCTION:
      case OP.MODULE_AUX:
        throw new RdbUnsupported(`RDB opcode ${type}`);
    }
    const key = this.readString();
    const start = this.p;
    this.skipValue(type);
    const expireMs = this.expire;
    this.expire = -1;
    each({ db: this.db, key, expireMs, type, source: this.buf, start, end: this.p });
  }

  /** Steps over a value of one of the types Redis 7.0 writes (rdbSaveObject). */
  private skipValue(type: number): void {
    switch (type) {
      case 0: // string
      case 11: // set as intset
      case 16: // hash as listpack
      case 17: // sorted set as listpack
        this.skipString();
        return;
      case 2: { // set
        for (let n = this.len(); n > 0; n--) this.skipString();
        return;
      }
      case 4: { // hash
        for (let n = this.len(); n > 0; n--) {
          this.skipString();
          this.skipString();
        }
        return;
      }
      case 5: { // sorted set, binary double scores
        for (let n = this.len(); n > 0; n--) {
          this.skipString();
          this.skip(8);
        }
        return;
      }
      case 18: { // quicklist 2: per node a container kind and a (maybe compressed) listpack
        for (let n = this.len(); n > 0; n--) {
          this.len();
          this.skipString();
        }
        return;
      }
      case 19: { // stream, listpacks 2
        for (let n = this.len(); n > 0; n--) {
          this.skipString();
          this.skipString();
        }
        // length, last id (ms, seq), first id, max deleted id, entries added
        for (let i = 0; i < 8; i++) this.len();
        for (let groups = this.len(); groups > 0; groups--) {
          this.skipString(); // name
          this.len(); // last id ms
          this.len(); // last id seq
          this.len(); // entries read
          for (let pel = this.len(); pel > 0; pel--) {
            this.skip(16 + 8); // id, delivery time
            this.len(); // delivery count
          }
          for (let consumers = this.len(); consumers > 0; consumers--) {
            this.skipString(); // name
            this.skip(8); // seen time
            for (let pel = this.len(); pel > 0; pel--) this.skip(16);
          }
        }
        return;
      }
      default:
        throw new RdbUnsupported(`RDB value type ${type}`);
    }
  }

  private have(n: number): void {
    if (this.p + n > this.buf.length) throw INCOMPLETE;
  }

  private skip(n: number): void {
    this.have(n);
    this.p += n;
  }

  /** A length (rdbLoadLen); an encoded-value marker here is malformed. */
  private len(): number {
    const r = this.lenOrEnc();
    if (r.enc >= 0) throw new Error(`RDB: an encoded value where a length was expected at byte ${this.p}`);
    return r.n;
  }

  private lenOrEnc(): { n: number; enc: number } {
    this.have(1);
    this.have(lengthBytes(this.buf[this.p]!));
    const r = lengthAt(this.buf, this.p);
    this.p = r.next;
    return r;
  }

  private skipString(): void {
    const r = this.lenOrEnc();
    if (r.enc < 0) return this.skip(r.n);
    if (r.enc === 0) return this.skip(1);
    if (r.enc === 1) return this.skip(2);
    if (r.enc === 2) return this.skip(4);
    if (r.enc === 3) {
      const clen = this.len();
      this.len();
      return this.skip(clen);
    }
    throw new Error(`RDB: unknown string encoding ${r.enc}`);
  }

  /** A string as its bytes (integers as decimal text, LZF expanded): key names. A view into the buffer when stored plain. */
  private readString(): Buffer {
    const start = this.p;
    this.skipString();
    return rdbStringAt(this.buf, start);
  }
}

/**
 * The string an RDB string encoding at `at` holds (plain, integer or LZF), from a complete value: a string
 * value's bytes in an RdbEntry.
 */
export function rdbStringAt(buf: Buffer, at: number): Buffer {
  const r = lengthAt(buf, at);
  if (r.enc < 0) return buf.subarray(r.next, r.next + r.n);
  switch (r.enc) {
    case 0:
      return Buffer.from(String(buf.readInt8(r.next)));
    case 1:
      return Buffer.from(String(buf.readInt16LE(r.next)));
    case 2:
      return Buffer.from(String(buf.readInt32LE(r.next)));
    case 3: {
      const compressed = lengthAt(buf, r.next);
      const expanded = lengthAt(buf, compressed.next);
      return lzfDecompress(buf.subarray(expanded.next, expanded.next + compressed.n), expanded.n);
    }
  }
  throw new Error(`RDB: unknown string encoding ${r.enc}`);
}

/** How many bytes the length (or string-encoding marker) starting with `first` takes (rdbLoadLen). */
function lengthBytes(first: number): number {
  return first >> 6 === 1 ? 2 : first === 0x80 ? 5 : first === 0x81 ? 9 : 1;
}

/**
 * The length or string-encoding marker at `at` of a buffer that holds all of it: `enc` -1 and the length `n`, or
 * the encoding (integer 0-2, LZF 3) of a string that follows; `next` is the byte after it.
 */
function lengthAt(buf: Buffer, at: number): { n: number; enc: number; next: number } {
  const first = buf[at]!;
  switch (first >> 6) {
    case 0:
      return { n: first & 0x3f, enc: -1, next: at + 1 };
    case 1:
      return { n: ((first & 0x3f) << 8) | buf[at + 1]!, enc: -1, next: at + 2 };
    case 2:
      if (first === 0x80) return { n: buf.readUInt32BE(at + 1), enc: -1, next: at + 5 };
      if (first === 0x81) return { n: Number(buf.readBigUInt64BE(at + 1)), enc: -1, next: at + 9 };
      throw new Error(`RDB: bad length byte 0x${first.toString(16)}`);
    default:
      return { n: 0, enc: first & 0x3f, next: at + 1 };
  }
}
