import { lzfDecompress } from './lzf.js';

/**
 * Reading an RDB stream (as Redis 7.0 writes it for a replica's full sync) one key at a time, without decoding
 * values: each value's bytes are exactly what DUMP would return for it before the version and checksum, so a
 * key can go to RESTORE straight from the snapshot. Only the value encodings 7.0 writes are stepped over; an
 * opcode or type it does not know (modules, older encodings, a newer RDB) is RdbUnsupported, and the caller
 * copies that source another way.
 */
export class RdbUnsupported extends Error {}

/**
 * One key of the RDB. Valid only during the callback that gets it: the reader passes the same object each time, and
 * `keyBuf` and `source` may be its own buffer (a view per key would cost more than reading the key).
 */
export interface RdbEntry {
  db: number;
  /** The key's bytes are `keyBuf[keyStart, keyEnd)`: the reader's buffer, or a decoded copy (integer or LZF key). */
  keyBuf: Buffer;
  keyStart: number;
  keyEnd: number;
  /** Absolute expiry in ms, or -1. */
  expireMs: number;
  /** The RDB value type byte (the first byte of a DUMP payload). */
  type: number;
  /** The value's bytes: `source.subarray(start, end)`. */
  source: Buffer;
  start: number;
  end: number;
}

/** The key of an entry as a Buffer of its own (kept after the callback). */
export function entryKey(e: RdbEntry): Buffer {
  return Buffer.from(e.keyBuf.subarray(e.keyStart, e.keyEnd));
}

/** Not enough bytes buffered for the item being read: read again from its start once more arrive. */
const INCOMPLETE = Symbol('incomplete');

const OP = { FUNCTION2: 245, FUNCTION: 246, MODULE_AUX: 247, IDLE: 248, FREQ: 249, AUX: 250, RESIZEDB: 251, EXPIRETIME_MS: 252, EXPIRETIME: 253, SELECTDB: 254, EOF: 255 };

export class RdbReader {
  /** The RDB format version from the header (a DUMP payload carries it). */
  version = -1;
  done = false;
  /**
   * The bytes fed and not yet read are `buf[pos, filled)`. One buffer, grown when an item does not fit and reused
   * otherwise: a buffer per chunk would make the garbage collector's helper threads cost more than the reading.
   */
  private buf: Buffer = Buffer.allocUnsafe(256 * 1024);
  private filled = 0;
  private pos = 0;
  /**
   * Bytes that must be buffered (from `pos`) before trying again after INCOMPLETE: any more for a small item, twice
   * as many for a big one (read again from its start each time, so doubling keeps a big value O(n)).
   */
  private need = 0;
  private db = 0;
  private expire = -1;
  private p = 0;
  /** What the last `lenOrEnc` read: a length (`enc` -1), or a string encoding (`enc` 0-3). Fields, not an object per call. */
  private lenN = 0;
  private lenEnc = -1;
  private readonly entry: RdbEntry = { db: 0, keyBuf: Buffer.alloc(0), keyStart: 0, keyEnd: 0, expireMs: -1, type: 0, source: Buffer.alloc(0), start: 0, end: 0 };

  /**
   * Feeds the next bytes; `each` is called for every key completed. Returns the bytes after the RDB's end once it
   * ended, else null. `final`: no more bytes will come (parse what is here whatever `need` says).
   */
  push(chunk: Buffer, each: (e: RdbEntry) => void, final = false): Buffer | null {
    if (this.done) return chunk;
    this.append(chunk);
    if (!final && this.filled - this.pos < this.need) return null;
    this.need = 0;
    while (!this.done) {
      this.p = this.pos;
      try {
        this.item(each);
      } catch (e) {
        if (e !== INCOMPLETE) throw e;
        const have = this.filled - this.pos;
        this.need = have < 64 * 1024 ? have + 1 : 2 * have;
        return null;
      }
      this.pos = this.p;
    }
    return Buffer.from(this.buf.subarray(this.pos, this.filled));
  }

  /** `chunk` copied after the unread bytes (the caller may reuse it at once). */
  private append(chunk: Buffer): void {
    if (this.pos > 0) {
      this.buf.copyWithin(0, this.pos, this.filled);
      this.filled -= this.pos;
      this.pos = 0;
    }
    if (this.filled + chunk.length > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.filled + chunk.length));
      this.buf.copy(grown, 0, 0, this.filled);
      this.buf = grown;
    }
    this.filled += chunk.copy(this.buf, this.filled);
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
    const keyAt = this.p;
    this.skipString();
    const e = this.entry;
    if (this.lenEnc < 0) {
      e.keyBuf = this.buf;
      e.keyStart = this.p - this.lenN;
      e.keyEnd = this.p;
    } else {
      e.keyBuf = rdbStringAt(this.buf, keyAt);
      e.keyStart = 0;
      e.keyEnd = e.keyBuf.length;
    }
    const start = this.p;
    this.skipValue(type);
    e.db = this.db;
    e.expireMs = this.expire;
    e.type = type;
    e.source = this.buf;
    e.start = start;
    e.end = this.p;
    this.expire = -1;
    each(e);
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
    if (this.p + n > this.filled) throw INCOMPLETE;
  }

  private skip(n: number): void {
    this.have(n);
    this.p += n;
  }

  /** A length (rdbLoadLen); an encoded-value marker here is malformed. */
  private len(): number {
    this.lenOrEnc();
    if (this.lenEnc >= 0) throw new Error(`RDB: an encoded value where a length was expected at byte ${this.p}`);
    return this.lenN;
  }

  /** Reads a length or a string-encoding marker into `lenN` / `lenEnc` (rdbLoadLen; the same rule as `lengthAt`). */
  private lenOrEnc(): void {
    this.have(1);
    const b = this.buf;
    const first = b[this.p]!;
    switch (first >> 6) {
      case 0:
        this.lenN = first & 0x3f;
        this.lenEnc = -1;
        this.p += 1;
        return;
      case 1:
        this.have(2);
        this.lenN = ((first & 0x3f) << 8) | b[this.p + 1]!;
        this.lenEnc = -1;
        this.p += 2;
        return;
      case 2: {
        const r = (this.have(lengthBytes(first)), lengthAt(b, this.p));
        this.lenN = r.n;
        this.lenEnc = -1;
        this.p = r.next;
        return;
      }
      default:
        this.lenN = 0;
        this.lenEnc = first & 0x3f;
        this.p += 1;
    }
  }

  /** Steps over a string; after it, a plain one's bytes are the `lenN` before `p` (`lenEnc` -1). */
  private skipString(): void {
    this.lenOrEnc();
    const enc = this.lenEnc;
    if (enc < 0) return this.skip(this.lenN);
    if (enc <= 2) return this.skip(RDB_INT_BYTES[enc]!);
    if (enc === 3) {
      const clen = this.len();
      this.len();
      this.lenEnc = 3;
      return this.skip(clen);
    }
    throw new Error(`RDB: unknown string encoding ${enc}`);
  }
}

/**
 * Where the bytes of a plainly stored RDB string at `at` begin (they run to the string's end), or -1 when it is
 * an integer or LZF encoding (read it with `rdbStringAt`).
 */
export function plainStringStart(buf: Buffer, at: number): number {
  const first = buf[at]!;
  switch (first >> 6) {
    case 0:
      return at + 1;
    case 1:
      return at + 2;
    case 2:
      return at + lengthBytes(first);
    default:
      return -1;
  }
}

/**
 * The string an RDB string encoding at `at` holds (plain, integer or LZF), from a complete value: a string
 * value's bytes in an RdbEntry.
 */
export function rdbStringAt(buf: Buffer, at: number): Buffer {
  const r = lengthAt(buf, at);
  if (r.enc < 0) return buf.subarray(r.next, r.next + r.n);
  if (r.enc <= 2) return Buffer.from(String(rdbIntAt(buf, r.enc, r.next)));
  if (r.enc === 3) {
    const compressed = lengthAt(buf, r.next);
    const expanded = lengthAt(buf, compressed.next);
    return lzfDecompress(buf.subarray(expanded.next, expanded.next + compressed.n), expanded.n);
  }
  throw new Error(`RDB: unknown string encoding ${r.enc}`);
}

/** Bytes of an integer-encoded RDB string, by encoding (0: int8, 1: int16, 2: int32). */
export const RDB_INT_BYTES: readonly number[] = [1, 2, 4];

/** The value of an integer-encoded RDB string (encoding `enc`, 0-2) whose bytes start at `at`. */
export function rdbIntAt(buf: Buffer, enc: number, at: number): number {
  return enc === 0 ? buf.readInt8(at) : enc === 1 ? buf.readInt16LE(at) : buf.readInt32LE(at);
}

/** How many bytes the length (or string-encoding marker) starting with `first` takes (rdbLoadLen). */
function lengthBytes(first: number): number {
  return first >> 6 === 1 ? 2 : first === 0x80 ? 5 : first === 0x81 ? 9 : 1;
}

/**
 * The length or string-encoding marker at `at` of a buffer that holds all of it: `enc` -1 and the length `n`, or
 * the encoding (integer 0-2, LZF 3) of a string that follows; `next` is the byte after it.
 */
export function lengthAt(buf: Buffer, at: number): { n: number; enc: number; next: number } {
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
