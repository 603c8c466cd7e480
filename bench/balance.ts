/**
 * How evenly each twemproxy hash spreads keys of common shapes over 2 and 3 named shards (ketama, weight 1,
 * servers named s1, s2, s3 as redis-shard names them). Picks the default hash by measurement.
 * Run: npm run bench:balance  (or npx tsx bench/balance.ts [--keys N], default 3000 and 100000)
 *
 * Figure per case: the worst shard's deviation from an even split, |count - N/shards| / (N/shards). With
 * keys that behaved like random ones, 3000 keys over 2 shards would stray about 2% (1 standard deviation)
 * from even and rarely more than 5%; ketama's own point placement adds its share (the ring's prediction).
 */
import { randomUUID } from 'node:crypto';
import { buildRing, HASH_NAMES, type HashName } from '../src/hashring/index.js';

const SHAPES: Record<string, (i: number) => string> = {
  'session-%08x': (i) => `session-${i.toString(16).padStart(8, '0')}`,
  'key:%d': (i) => `key:${i}`,
  'bars:probe:N': (i) => `bars:probe:${i}`,
  'redis-shard:data:N': (i) => `redis-shard:data:${i}`,
  'user:{id}:field (hash_tag {})': (i) => `user:{${i}}:name`,
  '%d': (i) => String(i),
  'order_%06d': (i) => `order_${String(i).padStart(6, '0')}`,
  uuid: () => randomUUID(),
};

function shards(n: number) {
  return Array.from({ length: n }, (_, i) => ({ name: `s${i + 1}`, addr: `10.0.0.${i + 1}:6379`, weight: 1 }));
}

function worstDeviation(hash: HashName, nShards: number, shape: string, nKeys: number): number {
  const ring = buildRing({ hash, distribution: 'ketama', hashTag: '{}', servers: shards(nShards) });
  const counts = new Array<number>(nShards).fill(0);
  const make = SHAPES[shape]!;
  for (let i = 0; i < nKeys; i++) counts[ring.locate(Buffer.from(make(i)))]!++;
  const even = nKeys / nShards;
  return Math.max(...counts.map((c) => Math.abs(c - even) / even));
}

const arg = process.argv.indexOf('--keys');
const sizes = arg !== -1 ? [Number(process.argv[arg + 1])] : [3000, 100_000];
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

for (const nKeys of sizes) {
  for (const nShards of [2, 3]) {
    console.log(`\n${nKeys} keys over ${nShards} shards: worst shard's deviation from an even split`);
    const shapes = Object.keys(SHAPES);
    const rows = HASH_NAMES.map((h) => {
      const devs = shapes.map((s) => worstDeviation(h, nShards, s, nKeys));
      return { hash: h, devs, worst: Math.max(...devs) };
    }).sort((a, b) => a.worst - b.worst);
    console.log(`| hash | ${shapes.join(' | ')} | worst |`);
    console.log(`|---|${shapes.map(() => '---').join('|')}|---|`);
    for (const r of rows) console.log(`| ${r.hash} | ${r.devs.map(pct).join(' | ')} | **${pct(r.worst)}** |`);
  }
}
