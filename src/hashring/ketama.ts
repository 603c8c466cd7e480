/**
 * twemproxy's ketama continuum (src/hashkit/nc_ketama.c): each server gets points in proportion to its
 * weight, each point an MD5-derived uint32 of "<ring name>-<i>"; a key goes to the first point >= its hash,
 * wrapping to the first point.
 */
import { md5Into, md5State } from './md5.js';

const POINTS_PER_SERVER = 160;
const POINTS_PER_HASH = 4;
/** nc_ketama.c formats "<name>-<i>" into a 273-byte buffer, so longer strings are cut to 272 bytes. */
const MAX_POINT_KEY = 272;

/**
 * Points a server gets. twemproxy computes this in float32 arithmetic, and float32 rounding gives 156
 * points instead of 160 to every server of some equal-weight pools (25, 47, 50, 55, 61, 71, 94, 100 servers).
 */
export function ketamaPointCount(weight: number, totalWeight: number, liveServers: number): number {
  const f = Math.fround;
  const pct = f(f(weight) / f(totalWeight));
  const x = f(f(f(pct * POINTS_PER_SERVER) / 4) * f(liveServers));
  // The C code adds 1e-10 in double, then converts back to float before floorf.
  return Math.floor(f(x + 0.0000000001)) * POINTS_PER_HASH;
}

export type PointCountFn = (weight: number, totalWeight: number, liveServers: number) => number;

export interface Continuum {
  /** Point values, ascending. */
  values: Uint32Array;
  /** owners[i] is the server (in the caller's numbering) that point i belongs to. */
  owners: Int32Array;
  /** Points per server, in the caller's numbering. */
  counts: number[];
}

/**
 * Builds the continuum over servers given in twemproxy's order (sorted by name). `names` are the ring names
 * as bytes; `ids` maps each position to the caller's server number.
 *
 * Equal point values from different servers are ordered by server position: glibc's qsort (a merge sort for
 * arrays this small) keeps such ties in insertion order, and twemproxy inserts servers in name order.
 */
export function buildContinuum(
  names: readonly Uint8Array[],
  weights: readonly number[],
  ids: readonly number[],
  pointCount: PointCountFn = ketamaPointCount,
): Continuum {
  const n = names.length;
  const total = weights.reduce((a, b) => a + b, 0);
  const counts = new Array<number>(n).fill(0);
  const perPosition: number[] = [];
  let all = 0;
  for (let pos = 0; pos < n; pos++) {
    const c = pointCount(weights[pos]!, total, n);
    perPosition.push(c);
    counts[ids[pos]!] = c;
    all += c;
  }
  // Sort (value, position) pairs packed into one float64: value * 2^20 + position is exact below 2^53.
  const packed = new Float64Array(all);
  const scratch = new Uint8Array(MAX_POINT_KEY + 16);
  let at = 0;
  for (let pos = 0; pos < n; pos++) {
    const name = names[pos]!;
    for (let i = 0; i < perPosition[pos]! / POINTS_PER_HASH; i++) {
      const len = writePointKey(scratch, name, i);
      md5Into(scratch, 0, len);
      for (let x = 0; x < POINTS_PER_HASH; x++) packed[at++] = (md5State[x]! >>> 0) * 0x100000 + pos;
    }
  }
  packed.sort();
  const values = new Uint32Array(all);
  const owners = new Int32Array(all);
  for (let i = 0; i < all; i++) {
    const v = packed[i]!;
    const pos = v % 0x100000;
    values[i] = (v - pos) / 0x100000;
    owners[i] = ids[pos]!;
  }
  return { values, owners, counts };
}

function writePointKey(out: Uint8Array, name: Uint8Array, i: number): number {
  let len = 0;
  for (let j = 0; j < name.length && len < MAX_POINT_KEY; j++) out[len++] = name[j]!;
  const suffix = `-${i}`;
  for (let j = 0; j < suffix.length && len < MAX_POINT_KEY; j++) out[len++] = suffix.charCodeAt(j);
  return len;
}

/**
 * Finds the first point >= hash, wrapping past the last point to the first. A table indexed by the top bits
 * of the hash narrows the binary search to the few points of one bucket: resharding classifies millions of
 * keys, and an unassisted search over thousands of points costs more than the hash itself.
 */
export class KetamaIndex {
  private readonly values: Uint32Array;
  private readonly starts: Uint32Array;
  private readonly shift: number;

  constructor(values: Uint32Array) {
    this.values = values;
    let bits = 8;
    while (bits < 16 && 1 << bits < values.length * 2) bits++;
    this.shift = 32 - bits;
    // starts[b] = index of the first point >= b << shift; starts[2^bits] = number of points.
    const buckets = 1 << bits;
    const starts = new Uint32Array(buckets + 1);
    let i = 0;
    for (let b = 0; b < buckets; b++) {
      const floor = b * 2 ** this.shift;
      while (i < values.length && values[i]! < floor) i++;
      starts[b] = i;
    }
    starts[buckets] = values.length;
    this.starts = starts;
  }

  search(hash: number): number {
    const values = this.values;
    const b = hash >>> this.shift;
    let lo = this.starts[b]!;
    let hi = this.starts[b + 1]!;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (values[mid]! < hash) lo = mid + 1;
      else hi = mid;
    }
    return lo === values.length ? 0 : lo;
  }
}

/**
 * Fraction of the 2^32 hash space each point owns: a point owns the hashes above the previous point up to
 * itself; the first point also owns everything above the last.
 */
export function ketamaShare(c: Continuum, servers: number): number[] {
  const share = new Array<number>(servers).fill(0);
  const v = c.values;
  const n = v.length;
  if (n === 0) return share;
  for (let i = 1; i < n; i++) share[c.owners[i]!]! += v[i]! - v[i - 1]!;
  share[c.owners[0]!]! += v[0]! + 1 + (0xffffffff - v[n - 1]!);
  return share.map((s) => s / 0x100000000);
}
