/**
 * Keys located per second, one core: how fast a resharding scan can classify keys.
 * Run: npm run bench:hashring  (or npx tsx bench/hashring.ts [--all] for every hash)
 *
 * Keys are prebuilt Buffers shaped like real ones ("user:<n>:profile", "session:<hex>", ...), 8-40 bytes,
 * located over a 2-shard named ring (the default deployment) and a 16-shard one.
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { buildRing, HASH_NAMES, type HashName, type Ring } from '../src/hashring/index.js';

const KEYS = 1_000_000;
const ROUNDS = 3;

function makeKeys(n: number): Buffer[] {
  const out: Buffer[] = [];
  let x = 12345;
  const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0);
  for (let i = 0; i < n; i++) {
    const r = next();
    switch (i % 4) {
      case 0: out.push(Buffer.from(`user:${r % 10_000_000}:profile`)); break;
      case 1: out.push(Buffer.from(`session:${r.toString(16)}${next().toString(16)}`)); break;
      case 2: out.push(Buffer.from(`cart:{${r % 100_000}}:items`)); break;
      default: out.push(Buffer.from(`k${r}`));
    }
  }
  return out;
}

function shards(n: number) {
  return Array.from({ length: n }, (_, i) => ({ name: `s${i + 1}`, addr: `10.0.0.${i + 1}:6379`, weight: 1 }));
}

/** Best of several ~1 s rounds of whole passes over the keys: the best round is the least disturbed by other load. */
function measure(ring: Ring, keys: Buffer[]): number {
  let sink = 0;
  for (let i = 0; i < 200_000; i++) sink += ring.locate(keys[i]!); // warm up the JIT
  let best = 0;
  for (let round = 0; round < ROUNDS; round++) {
    let done = 0;
    const start = process.hrtime.bigint();
    let elapsed = 0;
    while (elapsed < 1) {
      for (let i = 0; i < keys.length; i++) sink += ring.locate(keys[i]!);
      done += keys.length;
      elapsed = Number(process.hrtime.bigint() - start) / 1e9;
    }
    best = Math.max(best, done / elapsed);
  }
  if (sink < 0) console.log(sink); // keeps the loop from being optimised away
  return best;
}

interface Case {
  hash: HashName;
  shards: number;
  tag: boolean;
}

const label = (c: Case) => `${c.hash} + ketama, ${c.shards} shards${c.tag ? ', hash_tag {}' : ''}`;

/** One case per process, so that each ring's code is specialised for its own hash, as in real use. */
function runCase(c: Case): number {
  const keys = makeKeys(KEYS);
  const ring = buildRing({ hash: c.hash, distribution: 'ketama', ...(c.tag ? { hashTag: '{}' } : {}), servers: shards(c.shards) });
  return measure(ring, keys);
}

const one = process.argv.indexOf('--one');
if (one >= 0) {
  const [hash, n, tag] = process.argv.slice(one + 1);
  process.stdout.write(String(runCase({ hash: hash as HashName, shards: Number(n), tag: tag === 'tag' })));
} else {
  const keys = makeKeys(KEYS);
  const avgLen = keys.reduce((a, k) => a + k.length, 0) / keys.length;
  console.log(`hashring: keys located per second, one core, ${KEYS.toLocaleString('en')} distinct keys of ${avgLen.toFixed(1)} bytes on average`);
  console.log(`cpu: ${cpus()[0]?.model ?? 'unknown'}; node ${process.version}; best of ${ROUNDS} one-second rounds per case`);
  const hashes: HashName[] = process.argv.includes('--all') ? [...HASH_NAMES] : ['fnv1a_64', 'murmur'];
  const cases: Case[] = hashes.flatMap((hash) => [
    { hash, shards: 2, tag: false },
    { hash, shards: 16, tag: false },
    { hash, shards: 16, tag: true },
  ]);
  for (const c of cases) {
    const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--one', c.hash, String(c.shards), c.tag ? 'tag' : 'plain'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${label(c)}: ${r.stderr}`);
    console.log(`${label(c).padEnd(46)} ${(Number(r.stdout) / 1e6).toFixed(1).padStart(6)} M keys/s`);
  }
}
