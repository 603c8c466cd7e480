import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCrc64 } from '../../src/reshard/crc64.js';
import { openClient, waitFor } from '../../src/runtime/index.js';
import { entryKey, RdbReader, type RdbEntry } from '../../src/reshard/rdb-reader.js';
import { readSnapshot } from '../../src/reshard/rdb-sync.js';
import { RestoreWriter } from '../../src/reshard/restore-writer.js';

/**
 * The snapshot copy against real Redis 7.0: every key read from a full-sync RDB, rebuilt as a DUMP payload, must
 * be byte for byte what DUMP returns, for every type and encoding 7.0 writes; RESTOREd through the writer it must
 * come out equal at the destination, with the same absolute expiry. Ports 31600-31601.
 */
const SRC = 31600;
const DST = 31601;
const PASSWORD = 'snap pw';

interface Child {
  proc: ChildProcess;
  exited: Promise<void>;
}
const children: Child[] = [];
let dir = '';

function startRedis(port: number): Child {
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
    '--dbfilename', `dump-${port}.rdb`, '--requirepass', PASSWORD, '--repl-diskless-sync-delay', '0', '--list-compress-depth', '1',
    '--list-max-listpack-size', '8', '--logfile', join(dir, `redis-${port}.log`)], { stdio: 'ignore' });
  const c = { proc, exited: new Promise<void>((r) => proc.once('exit', () => r())) };
  children.push(c);
  return c;
}

function client(port: number): Promise<Redis> {
  return waitFor(() => openClient(`127.0.0.1:${port}`, PASSWORD, 'redis-server'), { timeoutMs: 10_000, intervalMs: 25, what: `redis-server on ${port}` });
}

/** Keys in every type and encoding Redis 7.0 writes to an RDB, a tenth of them with an expiry; one key in db 1. */
async function load(c: Redis): Promise<void> {
  const p = c.pipeline();
  p.set('str:small', 'v');
  p.set('str:int', '12345');
  p.set('str:neg', '-7');
  p.set('str:long', 'abcdefgh'.repeat(2000)); // LZF-compressed in the RDB
  // Incompressible and bigger than the reader's first buffer (256 KB) and than an MSET (64 KB): it grows, SET alone.
  p.set('str:huge', randomBytes(400_000));
  p.set('k'.repeat(200), 'a key name long and repetitive enough to be LZF-compressed');
  p.set('12345678', 'an integer-encoded key name');
  p.set('-42', 'a negative integer key name');
  p.set(Buffer.from([0x00, 0xff, 0x0d, 0x0a, 0x24]), Buffer.from([1, 2, 3, 0, 255]));
  p.hset('hash:small', 'a', '1', 'b', 'two');
  for (let i = 0; i < 600; i++) p.hset('hash:big', `f${i}`, `v${i}`.repeat(3));
  p.rpush('list:small', 'a', 'b', 'c');
  for (let i = 0; i < 200; i++) p.rpush('list:big', `item-${i}-${'z'.repeat(i % 30)}`); // several nodes, middle ones compressed
  p.sadd('set:ints', 1, 2, 3, 1000000);
  p.sadd('set:strs', 'x', 'y', 'z');
  for (let i = 0; i < 700; i++) p.sadd('set:big', `member-${i}`);
  p.zadd('zset:small', 1, 'a', 2.5, 'b');
  for (let i = 0; i < 300; i++) p.zadd('zset:big', i / 7, `m${i}`);
  for (let i = 0; i < 50; i++) p.xadd('stream', '*', 'n', String(i), 'pad', 'p'.repeat(i));
  p.xgroup('CREATE', 'stream', 'g1', '0');
  p.xgroup('CREATE', 'stream', 'g2', '$');
  p.xreadgroup('GROUP', 'g1', 'alice', 'COUNT', '5', 'STREAMS', 'stream', '>');
  p.xreadgroup('GROUP', 'g1', 'bob', 'COUNT', '3', 'STREAMS', 'stream', '>');
  p.xadd('stream:empty', 'MAXLEN', '0', '*', 'a', 'b');
  const at = Date.now() + 3_600_000;
  for (let i = 0; i < 30; i++) {
    p.set(`ttl:${i}`, `value ${i}`);
    p.pexpireat(`ttl:${i}`, at + i);
  }
  p.pexpireat('hash:big', at + 7);
  p.pexpireat('zset:small', at + 8);
  const r = (await p.exec()) ?? [];
  const bad = r.find(([e]) => e);
  if (bad) throw bad[0];
  await c.select(1);
  await c.set('in-db-1', 'x');
  await c.select(0);
}

/** A key's value in a form two instances can be compared by (a set's or hash's order is the instance's own). */
async function valueOf(c: Redis, k: Buffer): Promise<unknown> {
  const type = await c.type(k);
  const sorted = (xs: Buffer[]) => xs.map((x) => x.toString('hex')).sort();
  switch (type) {
    case 'string': return [type, ((await c.getBuffer(k)) as Buffer).toString('hex')];
    case 'list': return [type, ((await c.lrangeBuffer(k, 0, -1)) as Buffer[]).map((x) => x.toString('hex'))];
    case 'set': return [type, sorted((await c.smembersBuffer(k)) as Buffer[])];
    case 'hash': {
      const flat = (await c.callBuffer('HGETALL', k)) as Buffer[];
      const pairs: string[] = [];
      for (let i = 0; i < flat.length; i += 2) pairs.push(`${flat[i]!.toString('hex')}=${flat[i + 1]!.toString('hex')}`);
      return [type, pairs.sort()];
    }
    case 'zset': return [type, await c.zrange(k, 0, -1, 'WITHSCORES')];
    case 'stream': return [type, await c.xrange(k, '-', '+'), await c.xinfo('GROUPS', k)];
    default: return [type];
  }
}

function payloadOf(e: RdbEntry, version: number): Buffer {
  const out = Buffer.alloc(1 + (e.end - e.start) + 10);
  out[0] = e.type;
  e.source.copy(out, 1, e.start, e.end);
  out.writeUInt16LE(version, out.length - 10);
  writeCrc64(out, 0, out.length - 8, out, out.length - 8);
  return out;
}

describe('snapshot copy: RDB read against Redis 7.0', () => {
  let src: Redis;
  let dst: Redis;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'redis-shard-snapshot-'));
    startRedis(SRC);
    startRedis(DST);
    src = await client(SRC);
    dst = await client(DST);
    await load(src);
  }, 30_000);

  afterAll(async () => {
    src?.disconnect();
    dst?.disconnect();
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGTERM');
    await Promise.race([Promise.all(children.map((c) => c.exited)), new Promise((r) => setTimeout(r, 5000))]);
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('the CRC-64 is Redis\'s (its own test vector)', () => {
    const crc = Buffer.alloc(8);
    writeCrc64(Buffer.from('123456789'), 0, 9, crc, 0);
    // Written little-endian after a payload; the vector is the number in hex.
    expect(Buffer.from(crc).reverse().toString('hex')).toBe('e9c6d914c4b8d9ca');
  });

  it('rebuilds every key as the exact DUMP payload, with its expiry and db, whatever the chunking', async () => {
    const seen = new Map<string, { db: number; expireMs: number; payload: string }>();
    const { bytes } = await readSnapshot(`127.0.0.1:${SRC}`, PASSWORD, 10_000, (e, version) => {
      seen.set(`${e.db}:${entryKey(e).toString('latin1')}`, { db: e.db, expireMs: e.expireMs, payload: payloadOf(e, version).toString('hex') });
    }, async () => {});
    expect(bytes).toBeGreaterThan(10_000);
    const keys = (await src.keysBuffer('*')) as Buffer[];
    expect(keys.length).toBeGreaterThan(40);
    expect([...seen.keys()].filter((k) => k.startsWith('0:')).sort()).toEqual(keys.map((k) => `0:${k.toString('latin1')}`).sort());
    expect(seen.get('1:in-db-1')?.db).toBe(1);
    for (const k of keys) {
      const got = seen.get(`0:${k.toString('latin1')}`)!;
      expect(got.payload, `DUMP of ${k.toString('latin1')}`).toBe(((await src.dumpBuffer(k)) as Buffer).toString('hex'));
      expect(got.expireMs, `expiry of ${k.toString('latin1')}`).toBe(Number(await src.call('PEXPIRETIME', k)));
    }

    // The same bytes through the reader in pieces of every size: each item is read again from its start when cut.
    const file = join(dir, 'copy.rdb');
    const cli = spawnSync('redis-cli', ['-p', String(SRC), '--no-auth-warning', '-a', PASSWORD, '--rdb', file], { encoding: 'utf8' });
    expect(cli.status, cli.stderr).toBe(0);
    const rdb = readFileSync(file);
    for (const size of [1, 7, 100, 4096, rdb.length]) {
      const reader = new RdbReader();
      const got = new Map<string, string>();
      const each = (e: RdbEntry) => got.set(`${e.db}:${entryKey(e).toString('latin1')}`, payloadOf(e, reader.version).toString('hex'));
      for (let at = 0; at < rdb.length && !reader.done; at += size) reader.push(rdb.subarray(at, at + size), each);
      // The end of the stream, as readSnapshot says it when the connection closes: a big item waits for it.
      if (!reader.done) reader.push(Buffer.alloc(0), each, true);
      expect(reader.done, `chunks of ${size}`).toBe(true);
      expect(got.size).toBe(seen.size);
      for (const [k, v] of got) expect(v, `${k} in chunks of ${size}`).toBe(seen.get(k)!.payload);
    }
  }, 60_000);

  it('writes them through the writer (MSET, SET PXAT, DEL + SADD, RESTORE): equal values and the same absolute expiry at the destination', async () => {
    const w = await RestoreWriter.open(`127.0.0.1:${DST}`, PASSWORD, 0, 5000);
    let n = 0;
    try {
      await readSnapshot(`127.0.0.1:${SRC}`, PASSWORD, 10_000, (e, version) => {
        if (e.db !== 0) return;
        // As the copy does: strings as SET ... PXAT, everything else as RESTORE.
        w.addEntry(e, version, Date.now());
        n++;
      }, () => w.drain(10));
      await w.drain(0);
    } finally {
      w.close();
    }
    const keys = (await src.keysBuffer('*')) as Buffer[];
    expect(n).toBe(keys.length);
    expect(await dst.dbsize()).toBe(keys.length);
    for (const k of keys) {
      expect(await valueOf(dst, k), `value of ${k.toString('latin1')}`).toEqual(await valueOf(src, k));
      expect(Number(await dst.call('PEXPIRETIME', k))).toBe(Number(await src.call('PEXPIRETIME', k)));
    }
    expect(await dst.xinfo('GROUPS', 'stream')).toEqual(await src.xinfo('GROUPS', 'stream'));
  }, 60_000);

  it('an error reply to a RESTORE fails the writer, naming the destination', async () => {
    const w = await RestoreWriter.open(`127.0.0.1:${DST}`, PASSWORD, 0, 5000);
    try {
      const junk = Buffer.from('not an rdb value');
      w.add(Buffer.from('junk'), 0, 4, -1, 0, 10, junk, 0, junk.length);
      await expect(w.drain(0)).rejects.toThrow(`RESTORE on 127.0.0.1:${DST}`);
    } finally {
      w.close();
    }
  });
});
