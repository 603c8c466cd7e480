/**
 * MD5 (RFC 1321) over a byte range, without allocating per call: twemproxy uses MD5 both as a key hash
 * (`hash: md5`) and to place ketama points, and node:crypto would allocate a Hash object and a digest
 * Buffer for every key.
 *
 * Results are left in `md5State` as four little-endian words, i.e. digest bytes 0-3, 4-7, 8-11, 12-15.
 */

const SHIFTS = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];

/** K[i] = floor(|sin(i + 1)| * 2^32), as RFC 1321 defines it; checked against node:crypto in the unit tests. */
const K = new Int32Array(64);
for (let i = 0; i < 64; i++) K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 0x100000000) | 0;

/** The digest of the last call, as words: digest byte 4*i + j is (md5State[i] >>> 8*j) & 0xff. */
export const md5State = new Int32Array(4);

const block = new Int32Array(16);
const tail = new Uint8Array(128);

function compress(w: Int32Array): void {
  let a = md5State[0]!;
  let b = md5State[1]!;
  let c = md5State[2]!;
  let d = md5State[3]!;
  for (let i = 0; i < 64; i++) {
    let f: number;
    let g: number;
    const round = i >> 4;
    if (round === 0) {
      f = (b & c) | (~b & d);
      g = i;
    } else if (round === 1) {
      f = (d & b) | (~d & c);
      g = (5 * i + 1) & 15;
    } else if (round === 2) {
      f = b ^ c ^ d;
      g = (3 * i + 5) & 15;
    } else {
      f = c ^ (b | ~d);
      g = (7 * i) & 15;
    }
    const s = SHIFTS[(round << 2) | (i & 3)]!;
    const x = (a + f + K[i]! + w[g]!) | 0;
    a = d;
    d = c;
    c = b;
    b = (b + ((x << s) | (x >>> (32 - s)))) | 0;
  }
  md5State[0] = (md5State[0]! + a) | 0;
  md5State[1] = (md5State[1]! + b) | 0;
  md5State[2] = (md5State[2]! + c) | 0;
  md5State[3] = (md5State[3]! + d) | 0;
}

/** Computes MD5 of bytes[start, end) into `md5State`. */
export function md5Into(bytes: Uint8Array, start: number, end: number): void {
  md5State[0] = 0x67452301;
  md5State[1] = 0xefcdab89 | 0;
  md5State[2] = 0x98badcfe | 0;
  md5State[3] = 0x10325476;
  const len = end - start;
  let p = start;
  for (; end - p >= 64; p += 64) {
    for (let j = 0; j < 16; j++) {
      const q = p + 4 * j;
      block[j] = bytes[q]! | (bytes[q + 1]! << 8) | (bytes[q + 2]! << 16) | (bytes[q + 3]! << 24);
    }
    compress(block);
  }
  // The rest, the 0x80 marker and the bit length fit in one or two more blocks.
  const rest = end - p;
  const blocks = rest < 56 ? 1 : 2;
  tail.fill(0, 0, blocks * 64);
  for (let j = 0; j < rest; j++) tail[j] = bytes[p + j]!;
  tail[rest] = 0x80;
  const bitsLo = (len * 8) >>> 0;
  const bitsHi = Math.floor(len / 0x20000000) >>> 0;
  const at = blocks * 64 - 8;
  tail[at] = bitsLo & 0xff;
  tail[at + 1] = (bitsLo >>> 8) & 0xff;
  tail[at + 2] = (bitsLo >>> 16) & 0xff;
  tail[at + 3] = bitsLo >>> 24;
  tail[at + 4] = bitsHi & 0xff;
  tail[at + 5] = (bitsHi >>> 8) & 0xff;
  tail[at + 6] = (bitsHi >>> 16) & 0xff;
  tail[at + 7] = bitsHi >>> 24;
  for (let b = 0; b < blocks; b++) {
    const o = b * 64;
    for (let j = 0; j < 16; j++) {
      const q = o + 4 * j;
      block[j] = tail[q]! | (tail[q + 1]! << 8) | (tail[q + 2]! << 16) | (tail[q + 3]! << 24);
    }
    compress(block);
  }
}
