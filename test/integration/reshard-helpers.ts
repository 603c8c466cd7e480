import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect } from 'vitest';
import { parse, stringify } from 'yaml';
import { placement } from '../../src/reshard/index.js';
import { readHaproxyServers } from '../../src/render/index.js';
import { haproxyPaths, proxyPaths, readPassword, type Topology } from '../../src/topology/index.js';
import { startStack, type TestStack } from '../support/stack.js';

export function client(addr: string, password: string | null = null): Redis {
  const [host, port] = addr.split(':');
  const c = new Redis({ host, port: Number(port), password: password ?? undefined, lazyConnect: false, enableReadyCheck: false, disableClientInfo: true, maxRetriesPerRequest: 0, retryStrategy: () => 50 });
  c.on('error', () => {});
  return c;
}

/** Mixed data through the proxy: every type, 10% with a TTL, hash-tagged groups, one collection big enough to go in pieces. */
export async function loadMixed(proxy: Redis, n: number, topo: Topology): Promise<void> {
  const now = Date.now();
  // nutcracker 0.5.0 does not forward stream commands: streams go straight to the master the ring names.
  const yml = readFileSync(proxyPaths(topo.proxyDir).conf, 'utf8');
  const place = placement(yml, yml, topo.proxy.name);
  const masters = proxyMasters(topo);
  const direct = new Map(Object.entries(masters).map(([name, addr]) => [name, client(addr, readPassword(topo))]));
  for (let i = 0; i < n; i += 200) {
    const p = proxy.pipeline();
    for (let j = i; j < Math.min(n, i + 200); j++) {
      const k = `k:${j}`;
      switch (j % 6) {
        case 0: p.set(`${k}:str`, `v${j}`); break;
        case 1: p.hset(`${k}:hash`, 'a', String(j), 'b', 'x'); break;
        case 2: p.rpush(`${k}:list`, 'a', String(j), 'c'); break;
        case 3: p.sadd(`${k}:set`, 'a', String(j)); break;
        case 4: p.zadd(`${k}:zset`, 1, 'a', j, 'b'); break;
        case 5: void direct.get(place.newOwner(Buffer.from(`${k}:stream`)))!.xadd(`${k}:stream`, '*', 'f', String(j)); break;
      }
      if (j % 10 === 0) p.set(`ttl:{g${j % 7}}:${j}`, `t${j}`, 'PXAT', now + 3_600_000 + j);
    }
    const r = (await p.exec()) ?? [];
    const failed = r.find(([e]) => e);
    if (failed) throw failed[0];
  }
  for (const c of direct.values()) {
    await c.ping();
    c.disconnect();
  }
  const big = proxy.pipeline();
  for (let f = 0; f < 6000; f += 500) {
    const args: string[] = [];
    for (let x = f; x < f + 500; x++) args.push(`f${x}`, `v${x}`);
    big.hset('big:hash', ...args);
  }
  // Over 1 MB each even in an RDB (random text does not compress): a snapshot copy leaves them to the live source.
  for (let i = 0; i < 6; i++) big.set(`big:str:${i}`, randomBytes(900_000).toString('base64'));
  await big.exec();
}

/** Content of a key in a form that compares equal across shards, with its absolute expiry. */
export async function fingerprint(c: Redis, key: string): Promise<string> {
  const type = await c.type(key);
  let v: unknown;
  if (type === 'string') v = await c.get(key);
  else if (type === 'hash') v = Object.entries(await c.hgetall(key)).sort();
  else if (type === 'list') v = await c.lrange(key, 0, -1);
  else if (type === 'set') v = (await c.smembers(key)).sort();
  else if (type === 'zset') v = await c.zrange(key, 0, -1, 'WITHSCORES');
  else if (type === 'stream') v = await c.xrange(key, '-', '+');
  const exp = await c.call('PEXPIRETIME', key);
  return JSON.stringify([type, v, exp]);
}

export async function allKeys(c: Redis): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await c.scan(cursor, 'COUNT', 1000);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out;
}

/** Every key of every master, with its fingerprint. */
export async function snapshot(masters: Record<string, string>, password: string | null = null): Promise<Map<string, { shard: string; fp: string }[]>> {
  const out = new Map<string, { shard: string; fp: string }[]>();
  for (const [shard, addr] of Object.entries(masters)) {
    const c = client(addr, password);
    try {
      for (const k of await allKeys(c)) {
        const list = out.get(k) ?? [];
        list.push({ shard, fp: await fingerprint(c, k) });
        out.set(k, list);
      }
    } finally {
      c.disconnect();
    }
  }
  return out;
}

export function proxyMasters(topo: Topology): Record<string, string> {
  // Mode haproxy: nutcracker's lines name HAProxy's frontends; the masters are its backend servers.
  if (topo.agent.apply === 'haproxy') return readHaproxyServers(readFileSync(haproxyPaths(topo.proxyDir).conf, 'utf8'));
  const text = readFileSync(proxyPaths(topo.proxyDir).conf, 'utf8');
  const doc = parse(text) as Record<string, { servers: string[] }>;
  const pool = doc[topo.proxy.name]!;
  return Object.fromEntries(pool.servers.map((l) => {
    const [addr, name] = l.split(' ');
    return [name!, addr!.split(':').slice(0, 2).join(':')];
  }));
}

/**
 * After a reshard: every key exactly once, on the shard the new ring (the live proxy config) names, with the
 * content it had before (keys the workload wrote are checked by the workload instead).
 */
export async function verifyPlacement(topo: Topology, before: Map<string, { shard: string; fp: string }[]>, skip: (k: string) => boolean): Promise<string[]> {
  const problems: string[] = [];
  const yml = readFileSync(proxyPaths(topo.proxyDir).conf, 'utf8');
  const place = placement(yml, yml, topo.proxy.name);
  const after = await snapshot(proxyMasters(topo), readPassword(topo));
  for (const [k, where] of after) {
    if (where.length !== 1) problems.push(`${k} on ${where.map((w) => w.shard).join(' and ')}`);
    const owner = place.newOwner(Buffer.from(k));
    if (!where.some((w) => w.shard === owner)) problems.push(`${k} on ${where.map((w) => w.shard).join(',')}, ring says ${owner}`);
  }
  for (const [k, was] of before) {
    if (skip(k)) continue;
    const now = after.get(k);
    if (!now) problems.push(`${k} lost`);
    else if (now[0]!.fp !== was[0]!.fp) problems.push(`${k} changed: ${was[0]!.fp} -> ${now[0]!.fp}`);
  }
  return problems;
}

/**
 * A client through the proxy that keeps writing and checks what it reads. Writes are never repeated, so a lost
 * write stays visible: SET w:u:<n> (a new key each time) and APPEND w:a:<n % 50> (a log per key). Every read of
 * an earlier key must give its acknowledged value. A write that failed (the proxy restart resets connections)
 * has an unknown outcome: that key is left out of the checks.
 */
export class Workload {
  private stopped = false;
  private done: Promise<void> | null = null;
  private readonly acked = new Map<string, string>();
  private readonly tainted = new Set<string>();
  errors = 0;
  ops = 0;
  wrongReads: string[] = [];
  maxStallMs = 0;
  private readonly c: Redis;
  /** Where reads go: the writer's proxy, or (`readVia`) another proxy that must serve the same ring. */
  private readonly r: Redis;
  private readonly prefix: string;

  /** `prefix` keeps two workloads' keys apart (default "w:"); `readVia` reads through another proxy. */
  constructor(addr: string, opts: { prefix?: string; readVia?: string; password?: string | null } = {}) {
    this.c = client(addr, opts.password ?? null);
    this.r = opts.readVia !== undefined ? client(opts.readVia, opts.password ?? null) : this.c;
    this.prefix = opts.prefix ?? 'w:';
  }

  start(): void {
    this.done = (async () => {
      for (let seq = 0; !this.stopped; seq++) {
        const u = `${this.prefix}u:${seq}`;
        const log = `${this.prefix}a:${seq % 50}`;
        const t0 = performance.now();
        try {
          await this.c.set(u, String(seq));
          this.acked.set(u, String(seq));
        } catch {
          this.errors++;
          this.tainted.add(u);
        }
        try {
          await this.c.append(log, `${seq},`);
          if (!this.tainted.has(log)) this.acked.set(log, `${this.acked.get(log) ?? ''}${seq},`);
        } catch {
          this.errors++;
          this.tainted.add(log);
          this.acked.delete(log);
        }
        this.maxStallMs = Math.max(this.maxStallMs, performance.now() - t0);
        const back = `${this.prefix}u:${Math.floor(seq / 2)}`;
        const want = this.acked.get(back);
        if (want !== undefined) {
          try {
            const got = await this.r.get(back);
            if (got !== want) this.wrongReads.push(`${back}: read ${got}, acknowledged ${want}`);
          } catch {
            this.errors++;
          }
        }
        this.ops++;
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  /** Every acknowledged write, read once more (through the reading proxy too, when it is another). */
  async finalCheck(): Promise<string[]> {
    const bad: string[] = [];
    const keys = [...this.acked.keys()];
    for (const c of new Set([this.c, this.r])) {
      for (let i = 0; i < keys.length; i += 500) {
        const part = keys.slice(i, i + 500);
        const got = await c.mget(...part);
        part.forEach((k, j) => {
          if (got[j] !== this.acked.get(k)) bad.push(`${k}${c === this.c ? '' : ' (read through the other proxy)'}: ${got[j]} != acknowledged ${this.acked.get(k)}`);
        });
      }
    }
    this.c.disconnect();
    this.r.disconnect();
    if (keys.length < 50) bad.push(`only ${keys.length} acknowledged writes: the workload did not run`);
    return bad;
  }
}

/** Rewrites the stack's description file (the operator's edit). */
export function editDescription(s: TestStack, edit: (d: Record<string, unknown>) => void): void {
  const d = parse(readFileSync(s.file, 'utf8')) as Record<string, unknown>;
  edit(d);
  writeFileSync(s.file, stringify(d));
}

/** PIDs of the HAProxy processes running in this state dir (a successor and its predecessor both count). */
export function haproxyPids(stateDir: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() !== 'haproxy') continue;
      const cwd = readlinkSync(`/proc/${d}/cwd`);
      if (cwd === stateDir || cwd.startsWith(`${stateDir}/`)) out.push(Number(d));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

/** The set-up every reshard test shares: 3,000 mixed keys through the proxy, then every master's keys snapshotted. */
export async function loadAndSnapshot(s: TestStack): Promise<Map<string, { shard: string; fp: string }[]>> {
  const proxy = client(s.topo.proxy.listen, readPassword(s.topo));
  await loadMixed(proxy, 3000, s.topo);
  proxy.disconnect();
  return snapshot(proxyMasters(s.topo), readPassword(s.topo));
}

export type ReshardJsonEvent = { type: string; [k: string]: unknown };

/**
 * The end every reshard test shares: the workload stopped after a last moment of traffic on the new ring; it read
 * nothing wrong and every acknowledged write reads back; every key on exactly the shard the live ring names, with
 * its content and absolute expiry as before. Returns the reshard's JSON events (from its stdout).
 */
export async function finishAndVerify(s: TestStack, w: Workload, before: Map<string, { shard: string; fp: string }[]>, stdout: string): Promise<ReshardJsonEvent[]> {
  await new Promise((r) => setTimeout(r, 300));
  await w.stop();
  const events = stdout.trim().split('\n').map((l) => JSON.parse(l) as ReshardJsonEvent);
  expect(events.some((e) => e.type === 'phase' && e.phase === 'done')).toBe(true);
  expect(w.wrongReads).toEqual([]);
  expect(await w.finalCheck()).toEqual([]);
  expect(w.ops).toBeGreaterThan(100);
  expect((await verifyPlacement(s.topo, before, (k) => k.startsWith('w:'))).slice(0, 10)).toEqual([]);
  return events;
}

/** A stack for the file's tests, started before them and stopped after them (on failure too); call the getter inside a test. */
export function reshardStack(base: number, opts?: Parameters<typeof startStack>[1]): () => TestStack {
  let s: TestStack | undefined;
  beforeAll(async () => {
    s = await startStack(base, opts);
  }, 120_000);
  afterAll(async () => {
    await s?.stop();
  }, 60_000);
  return () => s!;
}
