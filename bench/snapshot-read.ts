/**
 * Node's share of a snapshot copy, alone: a redis-server of its own (port BASE, temp dir) loaded with 500,000 keys
 * of the `bench reshard` mix (60% strings, 10% each hash, list, sorted set, set; 1 in 1000 a stream; 10% with a
 * TTL), its RDB taken as a replica would get it (`redis-cli --rdb`), then fed from memory in 64 KB chunks to the
 * reshard's RdbReader, every key placed on a 3-shard ring and the third that moves written by a RestoreWriter to a
 * socket that drops the bytes: what adding a third shard costs Node per key read and per key moved, steady state
 * (5 rounds; the first pays the JIT). Usage: npm run bench:snapshot-read [-- PORT]
 */
import { spawn, spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeCommand } from '../src/engine/index.js';
import type { RdbEntry } from '../src/reshard/rdb-reader.js';
import { waitFor } from '../src/runtime/index.js';
import { sendPipelined } from './pipelined.js';
import type { RestoreWriter as Writer } from '../src/reshard/restore-writer.js';

// The built code (npm run build), as `redis-shard reshard` runs it: through tsx the same functions ran ~1.7 times slower.
const { buildRing } = (await import(new URL('../dist/hashring/index.js', import.meta.url).href)) as typeof import('../src/hashring/index.js');
const { RdbReader } = (await import(new URL('../dist/reshard/rdb-reader.js', import.meta.url).href)) as typeof import('../src/reshard/rdb-reader.js');
const { RestoreWriter } = (await import(new URL('../dist/reshard/restore-writer.js', import.meta.url).href)) as typeof import('../src/reshard/restore-writer.js');

const port = Number(process.argv[2] ?? '25965');
const dir = mkdtempSync(join(tmpdir(), 'redis-shard-bench-read-'));
const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--rdbcompression', 'no'], { stdio: 'ignore' });
try {
  await waitFor(() => spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout.toString().trim() === 'PONG', { timeoutMs: 5000, intervalMs: 25, what: `redis-server on ${port}` });
  const enc = (args: Array<string | number>) => encodeCommand(args.map(String));
  const at = Date.now() + 3_600_000;
  let out = '';
  let commands = 0;
  for (let i = 0; i < 500_000; i++) {
    const k = i % 1000 === 999 ? `bench:${i}:stream` : `bench:${i}:${['s', 's', 's', 's', 's', 's', 'h', 'l', 'z', 't'][i % 10]}`;
    const v = `value-${i}-${'x'.repeat(i % 50)}`;
    const kind = k.endsWith(':stream') ? 'x' : k[k.length - 1];
    out += kind === 's' ? enc(['SET', k, v]) : kind === 'h' ? enc(['HSET', k, 'a', v, 'b', i]) : kind === 'l' ? enc(['RPUSH', k, v, i])
      : kind === 'z' ? enc(['ZADD', k, i, v]) : kind === 't' ? enc(['SADD', k, v, i]) : enc(['XADD', k, '*', 'f', v]);
    commands++;
    if (i % 10 === 3) {
      out += enc(['PEXPIREAT', k, at + i]);
      commands++;
    }
  }
  await sendPipelined(port, out, commands);
  const file = join(dir, 'snapshot.rdb');
  const got = spawnSync('redis-cli', ['-p', String(port), '--rdb', file]);
  if (got.status !== 0) throw new Error(`redis-cli --rdb: ${got.stderr.toString()}`);
  const rdb = readFileSync(file);
  const names = ['s1', 's2', 's3'];
  const ring = buildRing({ hash: 'fnv1a_64', servers: names.map((name, i) => ({ name, addr: `127.0.0.1:${1000 + i}`, weight: 1 })) });
  console.log(`RDB of 500,000 keys, ${(rdb.length / 1e6).toFixed(1)} MB; keys moving to s3 of a 3-shard ring written to a dropping socket`);
  for (let round = 1; round <= 5; round++) {
    const sink = Object.assign(new EventEmitter(), { write: () => true, destroy: () => {} }) as unknown as Socket;
    // The constructor is private: the writer is normally opened on a real connection (RestoreWriter.open).
    const w = new (RestoreWriter as unknown as new (s: Socket, a: string) => Writer)(sink, 'sink');
    const reader = new RdbReader();
    let read = 0;
    let moved = 0;
    const now = Date.now();
    const c0 = process.cpuUsage();
    const each = (e: RdbEntry) => {
      read++;
      if (names[ring.locate(e.keyBuf, e.keyStart, e.keyEnd)] !== 's3') return;
      w.addEntry(e, reader.version, now);
      moved++;
    };
    for (let off = 0; off < rdb.length; off += 65536) {
      reader.push(rdb.subarray(off, off + 65536), each);
      // As the copy does after each chunk read (it waits only when too many commands are unanswered).
      void w.drain(Number.MAX_SAFE_INTEGER);
    }
    const c = process.cpuUsage(c0);
    const us = c.user + c.system;
    console.log(`  round ${round}: ${read} keys read, ${moved} moved: ${(us / 1000).toFixed(0)} ms of CPU, ${(us / moved).toFixed(2)} us per moved key, ${(us / read).toFixed(2)} per key read`);
  }
} finally {
  server.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
