/**
 * LZF decompression (liblzf's format, as Redis compresses strings in an RDB). Only key names need it: values go
 * to RESTORE as the RDB holds them, compressed or not.
 */
export function lzfDecompress(src: Buffer, outLen: number): Buffer {
  const out = Buffer.allocUnsafe(outLen);
  let ip = 0;
  let op = 0;
  while (ip < src.length) {
    let ctrl = src[ip++]!;
    if (ctrl < 32) {
      ctrl++;
      if (op + ctrl > outLen || ip + ctrl > src.length) throw new Error('lzf: literal run past the end');
      src.copy(out, op, ip, ip + ctrl);
      ip += ctrl;
      op += ctrl;
    } else {
      let len = ctrl >> 5;
      let ref = op - ((ctrl & 0x1f) << 8) - 1;
      if (len === 7) len += src[ip++]!;
      ref -= src[ip++]!;
      len += 2;
      if (ref < 0 || op + len > outLen) throw new Error('lzf: back reference out of range');
      // Byte by byte: a reference may overlap the bytes it produces.
      for (let i = 0; i < len; i++) out[op++] = out[ref++]!;
    }
  }
  if (op !== outLen) throw new Error(`lzf: ${op} bytes, expected ${outLen}`);
  return out;
}
