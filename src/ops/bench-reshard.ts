import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { CheckFailedError } from '../errors.js';
import { placement, type ReshardEvent } from '../reshard/index.js';
import { down, redisClient, up, waitFor } from '../runtime/index.js';
import { loadTopology, proxyPaths, type Topology } from '../topology/index.js';
import type { LoadInput, LoadResult } from './bench-reshard-load.js';
import { reshardRun } from './reshard.js';

export interface BenchReshardOptions {
  keys: number;
  /** First port of the bench's own stack (it uses base..base+42). */
  basePort: number;
  /** Concurrent client connections writing and reading through the proxy during each reshard. */
  clients: number;
  rate: number | null;
  /** agent.apply of the bench's stack: haproxy (the default mode) or supervise. */
  mode: 'haproxy' | 'supervise';
  /** A third step after 3 -> 2: the hash changed (fnv1a_64 to murmur) on the two shards, keys moving both ways. */
  hashChange: boolean;
  log: (line: string) => void;
}

export interface ReshardStepFigures {
  step: string;
  keysMoved: number;
  bytesMoved: number;
  copySeconds: number;
  keysPerSec: number;
  bytesPerSec: number;
  totalSeconds: number;
  cutPauseMs: number | null;
  cutMode: string | null;
  /** Of the pause, the part spent draining the last dirty keys (the rest is the proxy switch). */
  cutDrainMs: number | null;
  clientOps: number;
  clientErrors: number;
  clientErrorKinds: Record<string, number>;
  longestWriteStallMs: number;
  /** The longest client write in flight at the cut (from 1 s before the pause to 2 s after it). */
  longestWriteStallAtCutMs: number;
  acknowledgedWrites: number;
  lostAcknowledgedWrites: number;
  loadedKeysLost: number;
  /** `uptime`'s 1-minute load average when the step began and when it ended (the machine may be shared). */
  loadAverage: [number, number];
}

export interface BenchReshardResult {
  machine: { cpus: number; model: string };
  mode: 'haproxy' | 'supervise';
  keys: number;
  clients: number;
  loadSeconds: number;
  steps: ReshardStepFigures[];
}

/**
 * `bench reshard`: its own stack (a description in a temp dir, on --base-port), N keys of mixed types (10% with a
 * TTL) loaded through the proxy, then 2 -> 3 shards and back 3 -> 2 with client load through the proxy during
 * each; what moved how fast, the client-observed stall and errors, the cut's pause, and what was lost. The stack
 * is stopped and its dir removed at the end, on failure too.
 */
export async function benchReshard(opts: BenchReshardOptions): Promise<BenchReshardResult> {
  const dir = mkdtempSync(join(tmpdir(), 'redis-shard-bench-reshard-'));
  const file = join(dir, 'redis-shard.yml');
  const a = (p: number) => `127.0.0.1:${opts.basePort + p}`;
  const s1 = { name: 's1', master: a(0), instances: [a(0), a(1), a(2)] };
  const s2 = { name: 's2', master: a(10), instances: [a(10), a(11), a(12)] };
  const s3 = { name: 's3', master: a(40), instances: [a(40), a(41), a(42)] };
  const describe = (shards: Array<{ name: string }>, hash: string = 'fnv1a_64') => {
    const frontends: Record<string, string> = { s1: a(33), s2: a(34), s3: a(35) };
    writeFileSync(file, stringify({
      stateDir: 'state',
      shards,
      sentinel: { instances: [a(20), a(21), a(22)], quorum: 2 },
      // HAProxy's frontends pinned: derived ones (listen + 10 on) would take s3's ports.
      proxy: { listen: a(30), stats: a(31), hash, ...(opts.mode === 'haproxy' ? { haproxy: { frontends: Object.fromEntries(shards.map((x) => [x.name, frontends[x.name]])) } } : {}) },
      // The bench measures the copy, not the disk: no AOF fsync on a shared machine.
      redis: { appendonly: false },
      agent: { apply: opts.mode },
    }));
    return loadTopology({ config: file });
  };
  const everything = describe([s1, s2, s3]);
  let topo = describe([s1, s2]);
  try {
    opts.log(`starting a stack in ${dir} (ports ${opts.basePort}-${opts.basePort + 42})`);
    await up(topo, { timeoutMs: 90_000 });
    const t0 = performance.now();
    await loadMixed(topo, opts.keys, opts.log);
    const loadSeconds = (performance.now() - t0) / 1000;
    opts.log(`loaded ${opts.keys} keys in ${loadSeconds.toFixed(1)} s`);
    const steps: ReshardStepFigures[] = [];
    const next = async (label: string, shards: Array<{ name: string }>, hash?: string) => {
      await settleSaves(topo, opts.log);
      topo = describe(shards, hash);
      steps.push(await step(label, topo, opts));
    };
    await next('2 -> 3 shards', [s1, s2, s3]);
    await next('3 -> 2 shards', [s1, s2]);
    if (opts.hashChange) await next('hash fnv1a_64 -> murmur', [s1, s2], 'murmur');
    return { machine: { cpus: cpus().length, model: cpus()[0]?.model ?? '?' }, mode: opts.mode, keys: opts.keys, clients: opts.clients, loadSeconds, steps };
  } finally {
    await down(everything).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

function proxyClient(topo: Topology): Redis {
  return redisClient(topo.proxy.listen, null, { timeoutMs: 10_000 });
}

/** Key i: 60% strings, 10% each hashes, lists, sets, sorted sets; 1 in 1000 a stream; every 10th with a 1 h TTL. */
function keyOf(i: number): string {
  if (i % 1000 === 999) return `bench:${i}:stream`;
  return `bench:${i}:${['s', 's', 's', 's', 's', 's', 'h', 'l', 'z', 't'][i % 10]}`;
}

async function loadMixed(topo: Topology, n: number, log: (l: string) => void): Promise<void> {
  const proxy = proxyClient(topo);
  await proxy.connect();
  // nutcracker 0.5.0 does not forward stream commands: streams go straight to their owner.
  const yml = readFileSync(proxyPaths(topo.proxyDir).conf, 'utf8');
  const place = placement(yml, yml, topo.proxy.name);
  const masters = Object.fromEntries(topo.shards.map((s) => [s.name, redisClient(s.master, null, { timeoutMs: 10_000 })]));
  const expireAt = Date.now() + 3_600_000;
  try {
    for (let i = 0; i < n; i += 2000) {
      const p = proxy.pipeline();
      const direct = new Map<string, ReturnType<Redis['pipeline']>>();
      for (let j = i; j < Math.min(n, i + 2000); j++) {
        const k = keyOf(j);
        const v = `value-${j}-${'x'.repeat(j % 50)}`;
        if (k.endsWith(':stream')) {
          const owner = place.newOwner(Buffer.from(k));
          const dp = direct.get(owner) ?? masters[owner]!.pipeline();
          dp.xadd(k, '*', 'f', v);
          direct.set(owner, dp);
          continue;
        }
        switch (k[k.length - 1]) {
          case 's': p.set(k, v); break;
          case 'h': p.hset(k, 'a', v, 'b', String(j)); break;
          case 'l': p.rpush(k, v, String(j)); break;
          case 'z': p.zadd(k, j, v); break;
          case 't': p.sadd(k, v, String(j)); break;
        }
        if (j % 10 === 3) p.pexpireat(k, expireAt + j);
      }
      const r = (await p.exec()) ?? [];
      const failed = r.find(([e]) => e);
      if (failed) throw failed[0];
      for (const dp of direct.values()) await dp.exec();
      if (i % 200_000 === 0 && i > 0) log(`  ${i} keys loaded`);
    }
  } finally {
    proxy.disconnect();
    for (const m of Object.values(masters)) m.disconnect();
  }
}

/** The client load (bench-reshard-load.ts) in a worker thread, through the proxy. */
class ClientLoad {
  private readonly worker: Worker;
  private readonly started: Promise<void>;
  private readonly finished: Promise<LoadResult>;

  constructor(topo: Topology, n: number, tag: string) {
    const input: LoadInput = { addr: topo.proxy.listen, clients: n, tag };
    this.worker = new Worker(new URL('./bench-reshard-load.js', import.meta.url), { workerData: input });
    let started!: () => void;
    this.started = new Promise<void>((r) => (started = r));
    this.finished = new Promise<LoadResult>((resolve, reject) => {
      this.worker.on('message', (m: { type: string; result?: LoadResult }) => {
        if (m.type === 'started') started();
        else if (m.type === 'result') resolve(m.result!);
      });
      this.worker.on('error', reject);
      this.worker.on('exit', (code) => reject(new Error(`the client load worker exited (${code})`)));
    });
    this.finished.catch(() => {});
  }

  async start(): Promise<void> {
    await Promise.race([this.started, this.finished.then(() => {})]);
  }

  async stop(): Promise<LoadResult> {
    this.worker.postMessage('stop');
    const r = await this.finished;
    await this.worker.terminate();
    return r;
  }
}

/**
 * A BGSAVE on every instance, waited for. Redis's default `save` policy (60 s and 10000 changes) would otherwise
 * fork each instance at a time set by the previous step's writes (the load, or the keys a reshard wrote), often in
 * the middle of the next copy: up to a core for a second or two, unrelated to the reshard being measured. A save
 * just done puts the next periodic one a minute away.
 */
async function settleSaves(topo: Topology, log: (l: string) => void): Promise<void> {
  const t0 = performance.now();
  const addrs = topo.shards.flatMap((s) => s.instances);
  await Promise.all(addrs.map(async (addr) => {
    const c = redisClient(addr, null, { timeoutMs: 10_000 });
    try {
      await c.connect();
      await c.bgsave().catch((e: Error) => {
        if (!/in progress/i.test(e.message)) throw new Error(`${addr}: BGSAVE: ${e.message}`);
      });
      await waitFor(async () => /rdb_bgsave_in_progress:0/.test(await c.info('persistence')), { timeoutMs: 300_000, intervalMs: 100, what: `${addr} to finish its BGSAVE` });
    } finally {
      c.disconnect();
    }
  }));
  log(`  BGSAVE on ${addrs.length} instances first, done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

async function step(label: string, topo: Topology, opts: BenchReshardOptions): Promise<ReshardStepFigures> {
  const load0 = loadavg()[0]!;
  opts.log(`${label}: reshard with ${opts.clients} clients writing through the proxy (load average ${load0.toFixed(2)})`);
  const load = new ClientLoad(topo, opts.clients, label.replace(/\W+/g, ''));
  await load.start();
  const events: Array<ReshardEvent & { at: number }> = [];
  const t0 = performance.now();
  let loadResult: LoadResult;
  try {
    await reshardRun(topo, {
      rate: opts.rate,
      emit: (e) => {
        events.push({ ...e, at: performance.now() });
        if (e.type === 'phase') opts.log(`  phase ${e.phase}`);
        if (e.type === 'cut') opts.log(`  cut: ${e.mode}, ${e.pauseMs} ms (drain ${e.drainMs} ms)`);
        if (e.type === 'info' && (e.message.startsWith('switch:') || e.message.includes('snapshot'))) opts.log(`  ${e.message}`);
        if (e.type === 'repass') opts.log(`  repass of ${e.shard}: ${e.reason}`);
      },
    });
  } finally {
    loadResult = await load.stop();
  }
  const totalSeconds = (performance.now() - t0) / 1000;
  const at = (phase: string) => events.find((e) => e.type === 'phase' && e.phase === phase)?.at;
  const copyStart = at('copying') ?? t0;
  const copyEnd = at('cutting') ?? performance.now();
  const progress = events.filter((e): e is Extract<ReshardEvent, { type: 'progress' }> & { at: number } => e.type === 'progress');
  const cut = events.find((e): e is Extract<ReshardEvent, { type: 'cut' }> & { at: number } => e.type === 'cut');
  const last = progress[progress.length - 1];
  const copySeconds = Math.max((copyEnd - copyStart) / 1000, 0.001);
  // Keys moved in the copy phase itself (the last progress report before the cut).
  const beforeCut = progress.filter((p) => p.at <= copyEnd);
  const copied = beforeCut[beforeCut.length - 1] ?? last;
  const lostAcked = await countMissing(topo, loadResult.acked);
  const loadedLost = await countMissing(topo, Array.from({ length: opts.keys }, (_, i) => keyOf(i)).filter((k) => !k.endsWith(':stream')));
  const stalls = loadResult.slowWrites;
  const atCut = cut ? stalls.filter(([start, ms]) => start + ms >= cut.pausedAtEpochMs - 1000 && start <= cut.pausedAtEpochMs + cut.pauseMs + 2000) : [];
  const fig: ReshardStepFigures = {
    step: label,
    keysMoved: last?.keysCopied ?? 0,
    bytesMoved: last?.bytesCopied ?? 0,
    copySeconds: round(copySeconds),
    keysPerSec: Math.round((copied?.keysCopied ?? 0) / copySeconds),
    bytesPerSec: Math.round((copied?.bytesCopied ?? 0) / copySeconds),
    totalSeconds: round(totalSeconds),
    cutPauseMs: cut?.pauseMs ?? null,
    cutMode: cut?.mode ?? null,
    cutDrainMs: cut?.drainMs ?? null,
    clientOps: loadResult.ops,
    clientErrors: loadResult.errors,
    clientErrorKinds: loadResult.errorKinds,
    longestWriteStallMs: round(Math.max(0, ...stalls.map(([, ms]) => ms))),
    longestWriteStallAtCutMs: round(Math.max(0, ...atCut.map(([, ms]) => ms))),
    acknowledgedWrites: loadResult.acked.length,
    lostAcknowledgedWrites: lostAcked,
    loadedKeysLost: loadedLost,
    loadAverage: [round(load0), round(loadavg()[0]!)],
  };
  if (lostAcked > 0 || loadedLost > 0) {
    throw new CheckFailedError(`${label}: ${loadedLost} loaded keys and ${lostAcked} acknowledged writes missing after the reshard: ${JSON.stringify(fig)}`);
  }
  return fig;
}

/** Keys that do not exist, asked through the proxy (EXISTS, pipelined). */
async function countMissing(topo: Topology, keys: string[]): Promise<number> {
  const c = proxyClient(topo);
  await c.connect();
  let missing = 0;
  try {
    for (let i = 0; i < keys.length; i += 5000) {
      const p = c.pipeline();
      for (const k of keys.slice(i, i + 5000)) p.exists(k);
      const r = (await p.exec()) ?? [];
      for (const [err, v] of r) if (err || Number(v) !== 1) missing++;
    }
  } finally {
    c.disconnect();
  }
  return missing;
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}
