/**
 * twemproxy 0.5.0's twelve key hashes (src/hashkit/), reimplemented over byte ranges so that a hash tag
 * needs no copy and a key needs no allocation.
 *
 * Every result is a uint32. Two facts of the C source decide results for bytes >= 0x80:
 * - Several functions read the key through `const char *`, which is signed on x86-64 Linux, so such a
 *   byte enters the arithmetic sign-extended (0xE2 -> 0xFFFFFFE2). `sx` below models that; functions that
 *   read through `unsigned char`/`uint8_t` (murmur, jenkins, md5, the first bytes of hsieh) do not.
 * - fnv1a_64 truncates its 64-bit offset basis and prime to 32 bits before looping, so it is a 32-bit hash
 *   with unusual constants; fnv1_64 is truly 64-bit, but the low 32 bits of a 64-bit product depend only on
 *   the low 32 bits of its operands, so it too can be computed in 32 bits.
 */
import { md5Into, md5State } from './md5.js';

export const HASH_NAMES = [
  'one_at_a_time', 'md5', 'crc16', 'crc32', 'crc32a', 'fnv1_64', 'fnv1a_64',
  'fnv1_32', 'fnv1a_32', 'hsieh', 'murmur', 'jenkins',
] as const;
export type HashName = (typeof HASH_NAMES)[number];

/** A key hash over bytes[start, end), returning a uint32. */
export type HashFn = (bytes: Uint8Array, start: number, end: number) => number;

/** A byte as a signed char widened to 32 bits (x86-64 `char` is signed). */
function sx(b: number): number {
  return (b << 24) >> 24;
}

function oneAtATime(k: Uint8Array, s: number, e: number): number {
  let h = 0;
  for (let i = s; i < e; i++) {
    h = (h + sx(k[i]!)) | 0;
    h = (h + (h << 10)) | 0;
    h ^= h >>> 6;
  }
  h = (h + (h << 3)) | 0;
  h ^= h >>> 11;
  h = (h + (h << 15)) | 0;
  return h >>> 0;
}

function md5(k: Uint8Array, s: number, e: number): number {
  md5Into(k, s, e);
  return md5State[0]! >>> 0;
}

const CRC16 = new Uint32Array(256);
const CRC32 = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  // CRC-16/XMODEM (polynomial 0x1021, MSB first) and zlib's reflected CRC-32 (0xEDB88320).
  let c16 = n << 8;
  for (let i = 0; i < 8; i++) c16 = c16 & 0x8000 ? ((c16 << 1) ^ 0x1021) & 0xffff : (c16 << 1) & 0xffff;
  CRC16[n] = c16;
  let c32 = n;
  for (let i = 0; i < 8; i++) c32 = c32 & 1 ? (c32 >>> 1) ^ 0xedb88320 : c32 >>> 1;
  CRC32[n] = c32;
}

/** XMODEM table, but the accumulator is a uint32 that is never masked to 16 bits, so results exceed 0xFFFF. */
function crc16(k: Uint8Array, s: number, e: number): number {
  let crc = 0;
  for (let i = s; i < e; i++) crc = (crc << 8) ^ CRC16[((crc >>> 8) ^ k[i]!) & 0xff]!;
  return crc >>> 0;
}

function crc32a(k: Uint8Array, s: number, e: number): number {
  let crc = -1;
  for (let i = s; i < e; i++) crc = CRC32[(crc ^ k[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

/** libmemcached's "crc32": bits 16-30 of the real CRC-32 only, so at most 32768 distinct values. */
function crc32(k: Uint8Array, s: number, e: number): number {
  return (crc32a(k, s, e) >>> 16) & 0x7fff;
}

const FNV64_BASIS_LO = 0x84222325 | 0;
const FNV64_PRIME_LO = 0x1b3;
const FNV32_BASIS = 0x811c9dc5 | 0;
const FNV32_PRIME = 0x01000193;

function fnv1_64(k: Uint8Array, s: number, e: number): number {
  let h = FNV64_BASIS_LO;
  for (let i = s; i < e; i++) h = Math.imul(h, FNV64_PRIME_LO) ^ sx(k[i]!);
  return h >>> 0;
}

function fnv1a_64(k: Uint8Array, s: number, e: number): number {
  let h = FNV64_BASIS_LO;
  for (let i = s; i < e; i++) h = Math.imul(h ^ sx(k[i]!), FNV64_PRIME_LO);
  return h >>> 0;
}

function fnv1_32(k: Uint8Array, s: number, e: number): number {
  let h = FNV32_BASIS;
  for (let i = s; i < e; i++) h = Math.imul(h, FNV32_PRIME) ^ sx(k[i]!);
  return h >>> 0;
}

function fnv1a_32(k: Uint8Array, s: number, e: number): number {
  let h = FNV32_BASIS;
  for (let i = s; i < e; i++) h = Math.imul(h ^ sx(k[i]!), FNV32_PRIME);
  return h >>> 0;
}

/** Paul Hsieh's SuperFastHash; the third byte of a 3-byte tail is read as a signed char. */
function hsieh(k: Uint8Array, s: number, e: number): number {
  const len = e - s;
  if (len <= 0) return 0;
  let h = 0;
  let p = s;
  for (let n = len >>> 2; n > 0; n--) {
    h = (h + (k[p]! | (k[p + 1]! << 8))) | 0;
    const tmp = ((k[p + 2]! | (k[p + 3]! << 8)) << 11) ^ h;
    h = (h << 16) ^ tmp;
    p += 4;
    h = (h + (h >>> 11)) | 0;
  }
  switch (len & 3) {
    case 3:
      h = (h + (k[p]! | (k[p + 1]! << 8))) | 0;
      h ^= h << 16;
      h ^= sx(k[p + 2]!) << 18;
      h = (h + (h >>> 11)) | 0;
      break;
    case 2:
      h = (h + (k[p]! | (k[p + 1]! << 8))) | 0;
      h ^= h << 11;
      h = (h + (h >>> 17)) | 0;
      break;
    case 1:
      h = (h + k[p]!) | 0;
      h ^= h << 10;
      h = (h + (h >>> 1)) | 0;
      break;
  }
  h ^= h << 3;
  h = (h + (h >>> 5)) | 0;
  h ^= h << 4;
  h = (h + (h >>> 17)) | 0;
  h ^= h << 25;
  h = (h + (h >>> 6)) | 0;
  return h >>> 0;
}

const M = 0x5bd1e995;

/** MurmurHash2 with twemproxy's length-dependent seed. */
function murmur(k: Uint8Array, s: number, e: number): number {
  let len = e - s;
  let h = Math.imul(0xdeadbeef | 0, len) ^ len;
  let p = s;
  while (len >= 4) {
    let w = k[p]! | (k[p + 1]! << 8) | (k[p + 2]! << 16) | (k[p + 3]! << 24);
    w = Math.imul(w, M);
    w ^= w >>> 24;
    w = Math.imul(w, M);
    h = Math.imul(h, M) ^ w;
    p += 4;
    len -= 4;
  }
  switch (len) {
    case 3:
      h ^= k[p + 2]! << 16;
    // falls through
    case 2:
      h ^= k[p + 1]! << 8;
    // falls through
    case 1:
      h ^= k[p]!;
      h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h >>> 0;
}

/** Bob Jenkins' lookup3 hashlittle with initval 13 (all of its read paths agree on little-endian). */
function jenkins(k: Uint8Array, s: number, e: number): number {
  let len = e - s;
  let a = (0xdeadbeef + len + 13) | 0;
  let b = a;
  let c = a;
  let p = s;
  while (len > 12) {
    a = (a + (k[p]! | (k[p + 1]! << 8) | (k[p + 2]! << 16) | (k[p + 3]! << 24))) | 0;
    b = (b + (k[p + 4]! | (k[p + 5]! << 8) | (k[p + 6]! << 16) | (k[p + 7]! << 24))) | 0;
    c = (c + (k[p + 8]! | (k[p + 9]! << 8) | (k[p + 10]! << 16) | (k[p + 11]! << 24))) | 0;
    a = (a - c) | 0; a ^= (c << 4) | (c >>> 28); c = (c + b) | 0;
    b = (b - a) | 0; b ^= (a << 6) | (a >>> 26); a = (a + c) | 0;
    c = (c - b) | 0; c ^= (b << 8) | (b >>> 24); b = (b + a) | 0;
    a = (a - c) | 0; a ^= (c << 16) | (c >>> 16); c = (c + b) | 0;
    b = (b - a) | 0; b ^= (a << 19) | (a >>> 13); a = (a + c) | 0;
    c = (c - b) | 0; c ^= (b << 4) | (b >>> 28); b = (b + a) | 0;
    len -= 12;
    p += 12;
  }
  if (len === 0) return c >>> 0;
  // The last 1-12 bytes, little-endian into a, b, c; missing bytes count as zero.
  let wa = 0;
  let wb = 0;
  let wc = 0;
  for (let j = len - 1; j >= 0; j--) {
    const v = k[p + j]!;
    if (j >= 8) wc |= v << (8 * (j - 8));
    else if (j >= 4) wb |= v << (8 * (j - 4));
    else wa |= v << (8 * j);
  }
  a = (a + wa) | 0;
  b = (b + wb) | 0;
  c = (c + wc) | 0;
  c ^= b; c = (c - ((b << 14) | (b >>> 18))) | 0;
  a ^= c; a = (a - ((c << 11) | (c >>> 21))) | 0;
  b ^= a; b = (b - ((a << 25) | (a >>> 7))) | 0;
  c ^= b; c = (c - ((b << 16) | (b >>> 16))) | 0;
  a ^= c; a = (a - ((c << 4) | (c >>> 28))) | 0;
  b ^= a; b = (b - ((a << 14) | (a >>> 18))) | 0;
  c ^= b; c = (c - ((b << 24) | (b >>> 8))) | 0;
  return c >>> 0;
}

export const HASH_FUNCTIONS: Readonly<Record<HashName, HashFn>> = {
  one_at_a_time: oneAtATime,
  md5,
  crc16,
  crc32,
  crc32a,
  fnv1_64,
  fnv1a_64,
  fnv1_32,
  fnv1a_32,
  hsieh,
  murmur,
  jenkins,
};

export function isHashName(name: string): name is HashName {
  return (HASH_NAMES as readonly string[]).includes(name);
}

/** twemproxy's hash of a whole key, as a uint32. (The proxy itself hashes an empty key as 0: see Ring.) */
export function hashKey(hash: HashName, key: Uint8Array): number {
  return HASH_FUNCTIONS[hash](key, 0, key.length);
}
