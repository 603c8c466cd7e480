/**
 * What each way of writing a key costs a destination shard: a redis-server master and two replicas (its own, on
 * ports BASE..BASE+2 in a temp dir), 200,000 keys pipelined on one connection per way, and the CPU time of the
 * three processes (/proc/PID/stat) from before the first command until both replicas hold every key. The reshard's
 * RESTORE writer chooses MSET / SET PXAT / SADD / RESTORE by these figures. Linux only.
 * Usage: npm run bench:dest-commands [-- BASE_PORT [WAYS,...]]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../src/runtime/index.js';
import { sendPipelined } from './pipelined.js';

const TICK = Number(spawnSync('getconf', ['CLK_TCK']).stdout.toString().trim()) || 100;
const base = Number(process.argv[2] ?? '25960');
const only = process.argv[3]?.split(',');
const N = 200_000;
const ports = [base, base + 1, base + 2];
const dir = mkdtempSync(join(tmpdir(), 'redis-shard-bench-dest-'));

const resp = (args: Array<string | Buffer>): Buffer => {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(a);
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
};
const cli = (port: number, ...args: string[]): string => spawnSync('redis-cli', ['-p', String(port), ...args]).stdout.toString().trim();
async function until(what: string, ok: () => boolean): Promise<void> {
  await waitFor(ok, { timeoutMs: 60_000, intervalMs: 25, what });
}
async function dump(port: number, key: string): Promise<Buffer> {
  const r = await new Promise<Buffer>((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let acc = Buffer.alloc(0);
    s.on('error', reject);
    s.on('data', (d: Buffer) => {
      acc = Buffer.concat([acc, d]);
      const eol = acc.indexOf('\r\n');
      const n = eol > 0 ? Number(acc.subarray(1, eol).toString()) : -1;
      if (n >= 0 && acc.length >= eol + 2 + n + 2) {
        s.destroy();
        resolve(acc.subarray(eol + 2, eol + 2 + n));
      }
    });
    s.write(resp(['DUMP', key]));
  });
  return Buffer.from(r);
}

const procs: ChildProcess[] = [];
try {
  for (const [i, p] of ports.entries()) {
    const args = ['--port', String(p), '--bind', '127.0.0.1', '--dir', dir, '--dbfilename', `${p}.rdb`, '--save', '', '--appendonly', 'no'];
    if (i > 0) args.push('--replicaof', '127.0.0.1', String(base));
    procs.push(spawn('redis-server', args, { stdio: 'ignore' }));
  }
  const cpu = () => procs.map((c) => {
    const f = readFileSync(`/proc/${c.pid}/stat`, 'latin1').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / TICK;
  });
  await until('the replicas to sync', () => [base + 1, base + 2].every((p) => cli(p, 'info', 'replication').includes('master_link_status:up')));
  const sample = 'value-12345-xxxxxxxxxxxxxxxxxxxx';
  cli(base, 'hset', 'proto:h', 'a', sample, 'b', '12345');
  cli(base, 'rpush', 'proto:l', sample, '12345');
  cli(base, 'sadd', 'proto:t', sample, '12345');
  cli(base, 'zadd', 'proto:z', '12345', sample);
  cli(base, 'set', 'proto:s', sample);
  const pay = { s: await dump(base, 'proto:s'), h: await dump(base, 'proto:h'), l: await dump(base, 'proto:l'), t: await dump(base, 'proto:t'), z: await dump(base, 'proto:z') };
  const val = (i: number) => `value-${i}-${'x'.repeat(i % 50)}`;
  const later = String(Date.now() + 3_600_000);
  const batch = (size: number, each: (i: number) => Array<string | Buffer>) => (i: number) => (i % size === 0 ? [resp(['MSET', ...Array.from({ length: Math.min(size, N - i) }, (_, j) => each(i + j)).flat()])] : []);
  const ways: Record<string, (i: number) => Buffer[]> = {
    'SET': (i) => [resp(['SET', `k:${i}`, val(i)])],
    'MSET of 100': batch(100, (i) => [`k:${i}`, val(i)]),
    'MSET of 500': batch(500, (i) => [`k:${i}`, val(i)]),
    'SET PXAT': (i) => [resp(['SET', `k:${i}`, val(i), 'PXAT', later])],
    'RESTORE string ABSTTL': (i) => [resp(['RESTORE', `k:${i}`, later, pay.s, 'REPLACE', 'ABSTTL'])],
    'RESTORE hash (listpack)': (i) => [resp(['RESTORE', `k:${i}`, '0', pay.h, 'REPLACE', 'ABSTTL'])],
    'HSET': (i) => [resp(['HSET', `k:${i}`, 'a', val(i), 'b', String(i)])],
    'RESTORE list (quicklist)': (i) => [resp(['RESTORE', `k:${i}`, '0', pay.l, 'REPLACE', 'ABSTTL'])],
    'RPUSH': (i) => [resp(['RPUSH', `k:${i}`, val(i), String(i)])],
    'RESTORE set (hash table)': (i) => [resp(['RESTORE', `k:${i}`, '0', pay.t, 'REPLACE', 'ABSTTL'])],
    'SADD': (i) => [resp(['SADD', `k:${i}`, val(i), String(i)])],
    'RESTORE zset (listpack)': (i) => [resp(['RESTORE', `k:${i}`, '0', pay.z, 'REPLACE', 'ABSTTL'])],
    'ZADD': (i) => [resp(['ZADD', `k:${i}`, String(i), val(i)])],
    '100 RESTOREs in one EVAL': (i) => (i % 100 === 0 ? [resp(['EVAL', "for i=1,#KEYS do redis.call('RESTORE', KEYS[i], 0, ARGV[1], 'REPLACE', 'ABSTTL') end return 1", '100', ...Array.from({ length: 100 }, (_, j) => `k:${i + j}`), pay.h])] : []),
  };
  console.log(`${N} keys per way; CPU of the master / replica / replica, us per key (redis ${cli(base, 'info', 'server').match(/redis_version:(\S+)/)?.[1]})`);
  for (const [name, gen] of Object.entries(ways)) {
    if (only && !only.includes(name)) continue;
    cli(base, 'flushall');
    await until('the replicas to empty', () => [base + 1, base + 2].every((p) => cli(p, 'dbsize') === '0'));
    const bufs: Buffer[] = [];
    for (let i = 0; i < N; i++) bufs.push(...gen(i));
    const data = Buffer.concat(bufs);
    const c0 = cpu();
    const t0 = performance.now();
    const replies = await sendPipelined(base, data, bufs.length);
    if (replies.includes('-')) throw new Error(`${name}: an error reply: ${replies.toString('latin1').split('\r\n').find((l) => l.startsWith('-'))}`);
    await until(`${name} on the replicas`, () => [base, base + 1, base + 2].every((p) => cli(p, 'dbsize') === String(N)));
    const c1 = cpu();
    const each = c1.map((x, i) => ((x - c0[i]!) / N) * 1e6);
    const total = each.reduce((a, b) => a + b, 0);
    console.log(`  ${name.padEnd(26)} ${each.map((x) => x.toFixed(2)).join(' / ')}   in all ${total.toFixed(2)} us   (${Math.round(performance.now() - t0)} ms)`);
  }
} finally {
  for (const p of procs) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
