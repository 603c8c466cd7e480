/**
 * Redis's CRC-64 (Jones polynomial, reflected, init 0, no final xor): the checksum that ends every DUMP payload,
 * which RESTORE verifies. Kept as two 32-bit halves: BigInt per byte would cost more than the rest of the copy.
 */
const POLY_REFLECTED = 0x95ac9329ac4bc9b5n;
const TABLE_LO = new Uint32Array(256);
const TABLE_HI = new Uint32Array(256);
for (let i = 0; i < 256; i++) {
  let c = BigInt(i);
  for (let b = 0; b < 8; b++) c = c & 1n ? (c >> 1n) ^ POLY_REFLECTED : c >> 1n;
  TABLE_LO[i] = Number(c & 0xffffffffn);
  TABLE_HI[i] = Number(c >> 32n);
}

/** The checksum of `buf[start, end)`, written little-endian at `out[at]` (no object per call: the copy's hot path). */
export function writeCrc64(buf: Uint8Array, start: number, end: number, out: Buffer, at: number): void {
  let lo = 0;
  let hi = 0;
  for (let i = start; i < end; i++) {
    const idx = (lo ^ buf[i]!) & 0xff;
    lo = ((lo >>> 8) | (hi << 24)) ^ TABLE_LO[idx]!;
    hi = (hi >>> 8) ^ TABLE_HI[idx]!;
  }
  out.writeUInt32LE(lo >>> 0, at);
  out.writeUInt32LE(hi >>> 0, at + 4);
}
