import type { Redis } from 'ioredis';
import { CheckFailedError, InvalidInputError, TransientError } from '../errors.js';
import { ringFromNutcrackerYml } from '../hashring/index.js';
import { nutcrackerTargets, readPoolServers, renderNutcrackerYml } from '../render/index.js';
import {
  localParts, ourPid, redisClient, sentinelMonitor, writeExpectedRings, sentinelRemove, startShardInstances, stopShardInstances, withClient,
} from '../runtime/index.js';
import { existsSync, rmSync } from 'node:fs';
import { mustParseAddress, redisPaths, type ShardSpec, type Topology } from '../topology/index.js';
import { copyKeys, RateLimiter, scanAll, scanPipelined, type CopyResult, type MigrateTarget } from './copy.js';
import { ReshardLock } from './lock.js';
import { failoversInProgress, sentinelMaster, sentinelReplicas, waitMaster } from './masters.js';
import { describeChange, placement, type Placement, type RingChange } from './rings.js';
import { archiveState, beforeCommit, exitHook, nextEpoch, readState, writeState, type Phase, type ReshardState } from './state.js';
import { DirtyTracker } from './tracker.js';

/** What the reshard needs from the layers above it (ops wires the agent's config applier in). */
export interface ReshardDeps {
  /** The description with the new ring. */
  topo: Topology;
  password: string | null;
  /** The live proxy config text. */
  liveYml(): string;
  /**
   * Where the proxy path sends each shard of this live proxy config now: its server addresses, or in apply mode
   * "haproxy" (whose server lines name HAProxy's frontends) the backend servers of haproxy.cfg.
   */
  liveMasters(liveText: string): Record<string, string>;
  /** nutcracker -t on a text: null when good, else the reason. */
  check(text: string): Promise<string | null>;
  /**
   * Under the one config-writer lock (the agent's apply lock): `fn` gets the live config, returns the new text (or
   * null: no change), which is then written and made to take effect (proxy restarted). Throws if it did not.
   * `addedMasters`: the masters of shards the live config does not have (mode haproxy gives them a frontend).
   */
  switchProxy(fn: (liveText: string) => Promise<string | null>, addedMasters: Record<string, string>): Promise<void>;
  /** Stops the supervised proxy; only called inside `switchProxy`'s fn (the lock keeps the agent from restarting it). */
  stopProxy(): Promise<void>;
  /** Makes the agent read the description again (it follows failovers only of the shards it read). */
  restartAgent(): Promise<void>;
  emit(e: ReshardEvent): void;
}

export type ReshardEvent =
  | { type: 'phase'; phase: Phase; epoch: number }
  | { type: 'progress'; phase: Phase; keysCopied: number; bytesCopied: number; keysDeleted: number; plannedKeys: number; keysPerSec: number; bytesPerSec: number; dirty: number }
  | { type: 'repass'; shard: string; reason: string }
  | { type: 'cut'; attempt: number; pauseMs: number; drained: number; mode: 'pause' | 'proxy-stop'; drainMs: number; pausedAtEpochMs: number }
  | { type: 'cut-retry'; attempt: number; reason: string }
  | { type: 'cleanup'; shard: string; keysRemoved: number }
  | { type: 'shard-started'; shard: string }
  | { type: 'shard-removed'; shard: string; stopped: string[]; removedDirs: string[] }
  | { type: 'info'; message: string };

export interface PlanFlow {
  from: string;
  to: string;
  keys: number;
  bytes: number;
}

export interface ReshardPlan {
  change: RingChange;
  flows: PlanFlow[];
  totalKeys: number;
  /** Bytes estimated from MEMORY USAGE on a sample of the moving keys. */
  totalBytes: number;
  scannedKeys: number;
  bigKeys: Array<{ key: string; shard: string; type: string; elements: number }>;
  sources: string[];
  destinations: string[];
  /** How the cut will freeze writes: pause the sources, or (a source is also a destination) stop the proxy. */
  cutMode: 'pause' | 'proxy-stop';
  rateKeysPerSec: number | null;
  estimatedSeconds: number;
  oldYml: string;
  newYml: string;
  /** Current master of each old shard (from the live proxy config). */
  masters: Record<string, string>;
}

/** The estimate's rate without --rate: the goal figure, not a measurement (docs/reshard.md has the measured ones). */
const UNTHROTTLED_KEYS_PER_SEC = 100_000;
const SAMPLE_EVERY = 50;

function addrOf(yml: string, pool: string): Record<string, string> {
  return Object.fromEntries(readPoolServers(yml, pool).map((s) => [s.name, s.addr]));
}

/** The new proxy config, with the masters the live one sends to for shards it already has (server lines per apply mode). */
function renderNew(topo: Topology, live: Record<string, string>, password: string | null, extraMasters: Record<string, string>): string {
  const masters: Record<string, string> = {};
  for (const s of topo.shards) masters[s.name] = live[s.name] ?? extraMasters[s.name] ?? s.master;
  return renderNutcrackerYml(topo, nutcrackerTargets(topo, masters), password);
}

/** `reshard --plan`: what would move, counted on the live data. Changes nothing. */
export async function planReshard(deps: ReshardDeps, opts: { rate?: number | null } = {}): Promise<ReshardPlan> {
  const { topo, password } = deps;
  if (readState(topo.stateDir)) {
    const s = readState(topo.stateDir)!;
    throw new InvalidInputError(`a reshard (epoch ${s.epoch}) is in progress at phase ${s.phase}; run reshard --resume or reshard --abort`);
  }
  const oldYml = deps.liveYml();
  const live = ringFromNutcrackerYml(oldYml, topo.proxy.name);
  const masters = deps.liveMasters(oldYml);
  const change = describeChange(live, null, topo, masters);
  const newYml = renderNew(topo, masters, password, {});
  const place = placement(oldYml, newYml, topo.proxy.name);
  const flows = new Map<string, PlanFlow>();
  const bigKeys: ReshardPlan['bigKeys'] = [];
  let scanned = 0;
  for (const shard of Object.keys(masters)) {
    await withClient(masters[shard]!, password, async (c) => {
      let n = 0;
      await scanAll(c, async (keys) => {
        scanned += keys.length;
        const moving = keys.filter((k) => place.newOwner(k) !== shard);
        const sample: Buffer[] = [];
        for (const k of moving) {
          const to = place.newOwner(k);
          const id = `${shard}>${to}`;
          const f = flows.get(id) ?? { from: shard, to, keys: 0, bytes: 0 };
          f.keys++;
          flows.set(id, f);
          if (n++ % SAMPLE_EVERY === 0) sample.push(k);
        }
        if (sample.length === 0) return;
        const p = c.pipeline();
        for (const k of sample) p.call('MEMORY', 'USAGE', k, 'SAMPLES', '5');
        for (const k of sample) p.type(k);
        const r = (await p.exec()) ?? [];
        sample.forEach((k, i) => {
          const bytes = Number(r[i]?.[1] ?? 0);
          const f = flows.get(`${shard}>${place.newOwner(k)}`)!;
          f.bytes += bytes * SAMPLE_EVERY;
          if (bytes > 1_000_000) bigKeys.push({ key: k.toString(), shard, type: String(r[sample.length + i]?.[1]), elements: bytes });
        });
      }, 2000);
    }, { timeoutMs: 10_000 });
  }
  const list = [...flows.values()].sort((a, b) => b.keys - a.keys);
  const totalKeys = list.reduce((a, f) => a + f.keys, 0);
  const sources = [...new Set(list.map((f) => f.from))];
  const destinations = [...new Set(list.map((f) => f.to))];
  const rate = opts.rate ?? null;
  return {
    change,
    flows: list,
    totalKeys,
    totalBytes: list.reduce((a, f) => a + f.bytes, 0),
    scannedKeys: scanned,
    bigKeys,
    sources,
    destinations,
    cutMode: sources.some((s) => destinations.includes(s)) ? 'proxy-stop' : 'pause',
    rateKeysPerSec: rate,
    estimatedSeconds: Math.ceil(totalKeys / (rate ?? UNTHROTTLED_KEYS_PER_SEC)),
    oldYml,
    newYml,
    masters,
  };
}

export interface ReshardResult {
  state: ReshardState;
}

/** `reshard`: plan, refuse what cannot be done online, record the plan, and run it to the end. */
export async function startReshard(deps: ReshardDeps, opts: { rate: number | null; confirm?: (plan: ReshardPlan) => Promise<boolean> }): Promise<ReshardResult | null> {
  const { topo, password } = deps;
  const lock = ReshardLock.take(topo.stateDir);
  try {
    const plan = await planReshard(deps, { rate: opts.rate });
    if (plan.change.added.length + plan.change.removed.length === 0 && plan.change.settings.length === 0) {
      throw new InvalidInputError(`${topo.file ?? 'the description'}: the ring is the one the proxy serves already; nothing to reshard`);
    }
    const mode = topo.agent.apply as string;
    if (mode === 'staging') {
      // The new config takes effect whenever the installer gets to it, after the sources are unpaused, so
      // writes would reach old owners meanwhile.
      throw new InvalidInputError(`agent.apply ${mode}: reshard needs apply mode haproxy, supervise (or exec, whose command restarts the proxy before it returns); nothing was changed`);
    }
    if (plan.cutMode === 'proxy-stop' && mode === 'exec') {
      throw new InvalidInputError(
        `${plan.change.settings.join(', ')} moves keys in every direction, so the cut stops the proxy for a moment; that needs agent.apply haproxy or supervise (it is ${mode})`,
      );
    }
    const busy = await waitNoFailover(topo, Object.keys(plan.masters), password);
    if (busy.length > 0) throw new TransientError(`a failover is in progress on ${busy.join(', ')}; try again when it is over (nothing was changed)`);
    for (const s of Object.keys(plan.masters)) {
      const m = await sentinelMaster(topo, s, password);
      if (m !== plan.masters[s]) throw new TransientError(`shard ${s}: the proxy sends to ${plan.masters[s]} but the sentinels' master is ${m ?? 'unknown'}; wait for the agent to settle, then try again`);
    }
    await checkMemory(topo, plan, password);
    if (opts.confirm && !(await opts.confirm(plan))) return null;

    const instances: Record<string, string[]> = {};
    for (const s of topo.shards) instances[s.name] = [...s.instances];
    for (const r of plan.change.removed) instances[r] = [plan.masters[r]!, ...(await sentinelReplicas(topo, r, password))];
    const now = new Date().toISOString();
    const state: ReshardState = {
      version: 1,
      epoch: nextEpoch(topo.stateDir),
      phase: 'planned',
      startedAt: now,
      updatedAt: now,
      descriptionFile: topo.file,
      oldYml: plan.oldYml,
      newYml: plan.newYml,
      pool: topo.proxy.name,
      addedShards: plan.change.added,
      removedShards: plan.change.removed,
      shardInstances: instances,
      sources: plan.sources,
      destinations: [...new Set([...plan.destinations, ...plan.change.added])],
      rateKeysPerSec: opts.rate,
      notifyBefore: {},
      progress: { keysCopied: 0, bytesCopied: 0, keysDeleted: 0, passes: 0, keysCleaned: 0 },
      planned: { keys: plan.totalKeys, bytes: plan.totalBytes },
      committedAt: null,
      cut: { pauseMs: null, attempts: 0 },
      lastError: null,
    };
    writeState(topo.stateDir, state);
    writeExpectedRings(topo.stateDir, [plan.oldYml]);
    deps.emit({ type: 'phase', phase: 'planned', epoch: state.epoch });
    exitHook('planned');
    try {
      await new Runner(deps, state, false).run();
    } catch (e) {
      // A shard that does not come up is refused before anything moved: undo what was started.
      if (state.phase === 'planned') {
        await new Runner(deps, state, true).abort().catch(() => {});
      }
      throw e;
    }
    return { state };
  } finally {
    lock.release();
  }
}

export async function resumeReshard(deps: ReshardDeps): Promise<ReshardResult> {
  const lock = ReshardLock.take(deps.topo.stateDir);
  try {
    const state = readState(deps.topo.stateDir);
    if (!state) throw new InvalidInputError('no reshard in progress in this state dir; nothing to resume');
    checkSameDescription(deps.topo, state);
    deps.emit({ type: 'info', message: `resuming epoch ${state.epoch} at phase ${state.phase}` });
    await new Runner(deps, state, true).run();
    return { state };
  } finally {
    lock.release();
  }
}

export async function abortReshard(deps: ReshardDeps): Promise<ReshardResult> {
  const lock = ReshardLock.take(deps.topo.stateDir);
  try {
    const state = readState(deps.topo.stateDir);
    if (!state) throw new InvalidInputError('no reshard in progress in this state dir; nothing to abort');
    if (!beforeCommit(state.phase) || sameRing(deps.liveYml(), state.newYml, state.pool)) {
      throw new InvalidInputError(`reshard epoch ${state.epoch} is past its commit (phase ${state.phase}): the proxy serves the new ring; it can only go forward (reshard --resume)`);
    }
    await new Runner(deps, state, true).abort();
    return { state };
  } finally {
    lock.release();
  }
}

/** Same placement: hash, distribution, hash_tag, and the servers' names and weights. */
export function sameRing(aYml: string, bYml: string, pool: string): boolean {
  const a = ringFromNutcrackerYml(aYml, pool);
  const b = ringFromNutcrackerYml(bYml, pool);
  const servers = (r: typeof a) => JSON.stringify(r.servers.map((s) => [s.name ?? s.addr, s.weight]).sort());
  return a.hash === b.hash && a.distribution === b.distribution && (a.hashTag ?? '') === (b.hashTag ?? '') && servers(a) === servers(b);
}

function checkSameDescription(topo: Topology, state: ReshardState): void {
  if (!sameRing(renderNew(topo, addrOf(state.oldYml, state.pool), null, {}), state.newYml, state.pool)) {
    throw new InvalidInputError(`${topo.file ?? 'the description'} no longer describes the ring of reshard epoch ${state.epoch}; put it back as it was, then --resume (or --abort before the commit)`);
  }
}

async function waitNoFailover(topo: Topology, shards: string[], password: string | null): Promise<string[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const busy = await failoversInProgress(topo, shards, password);
    if (busy.length === 0 || Date.now() > deadline) return busy;
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function checkMemory(topo: Topology, plan: ReshardPlan, password: string | null): Promise<void> {
  const incoming = new Map<string, number>();
  for (const f of plan.flows) incoming.set(f.to, (incoming.get(f.to) ?? 0) + f.bytes);
  for (const [to, bytes] of incoming) {
    const addr = plan.masters[to] ?? topo.shards.find((s) => s.name === to)?.master;
    if (!addr) continue;
    let maxmemory = topo.redis.maxmemory;
    let used = 0;
    if (plan.masters[to]) {
      const info = await withClient(addr, password, async (c) => [String(await c.info('memory')), (await c.config('GET', 'maxmemory')) as string[]] as const, { timeoutMs: 2000 });
      used = Number(/used_memory:(\d+)/.exec(info[0])?.[1] ?? 0);
      maxmemory = Number(info[1][1] ?? maxmemory);
    }
    if (maxmemory > 0 && used + bytes > maxmemory * 0.9) {
      throw new InvalidInputError(
        `not enough memory on shard ${to}: it uses ${used} bytes, would receive about ${bytes}, and its maxmemory is ${maxmemory} (keeping 10% free); raise maxmemory or add another shard. Nothing was changed`,
      );
    }
  }
}

/**
 * Data dirs of this host's instances that are stopped (a removed shard after the commit, an added shard after an
 * abort: nothing in them is needed). Another host's instances (a state dir may be shared) and any still running
 * are left alone. Returns the dirs removed.
 */
function removeStoppedInstanceDirs(topo: Topology, instances: string[]): string[] {
  const removed: string[] = [];
  const here = localParts({ ...topo, shards: [{ name: '-', master: instances[0]!, instances, weight: 1 }] }).redis;
  for (const addr of here) {
    const p = redisPaths(topo.stateDir, addr);
    if (!existsSync(p.dir) || ourPid(p.pid, topo.stateDir) !== null) continue;
    rmSync(p.dir, { recursive: true, force: true });
    removed.push(p.dir);
  }
  return removed;
}

/** Lost subscription or a changed master: the source's copy starts over. */
class RepassNeeded extends Error {}

/** Keys per read script (and per group of MIGRATEs). */
const COPY_BATCH = 1000;

/** The phases, from wherever the state says. One instance per process run. */
class Runner {
  private readonly place: Placement;
  private readonly masters = new Map<string, string>();
  private readonly clients = new Map<string, Redis>();
  private readonly trackers = new Map<string, DirtyTracker>();
  private readonly limiter: RateLimiter;
  private readonly db: number;
  private readonly tmpPrefix: string;
  private readonly t0 = Date.now();
  private progressAt = 0;
  private readonly copiedAtStart: { keys: number; bytes: number };

  constructor(
    private readonly deps: ReshardDeps,
    private readonly state: ReshardState,
    /** Resumed (or aborting): destinations may hold copies from an earlier process, checked on each pass. */
    private readonly resumed: boolean,
  ) {
    this.place = placement(state.oldYml, state.newYml, state.pool);
    this.limiter = new RateLimiter(state.rateKeysPerSec);
    this.db = deps.topo.proxy.redis_db ?? 0;
    this.tmpPrefix = `__redis-shard:reshard:${state.epoch}:tmp:`;
    this.copiedAtStart = { keys: state.progress.keysCopied, bytes: state.progress.bytesCopied };
  }

  private get topo(): Topology {
    return this.deps.topo;
  }

  private setPhase(p: Phase): void {
    this.state.phase = p;
    writeState(this.topo.stateDir, this.state);
    this.deps.emit({ type: 'phase', phase: p, epoch: this.state.epoch });
    exitHook(p);
  }

  /** A topology that knows every shard involved, removed ones too (for asking the sentinels). */
  private allShards(): ShardSpec[] {
    const out = [...this.topo.shards];
    for (const r of this.state.removedShards) {
      out.push({ name: r, master: this.state.shardInstances[r]![0]!, instances: this.state.shardInstances[r]!, weight: 1 });
    }
    return out;
  }

  async run(): Promise<void> {
    try {
      // Killed between writing the new proxy config and recording it: the config is the commit.
      if (beforeCommit(this.state.phase) && this.liveIsNewRing()) this.recordCommit();
      writeExpectedRings(this.topo.stateDir, [beforeCommit(this.state.phase) ? this.state.oldYml : this.state.newYml]);
      if (beforeCommit(this.state.phase)) {
        if (this.state.phase === 'planned') {
          await this.startAddedShards();
          this.setPhase('shard-started');
        } else {
          await this.startAddedShards();
        }
        await this.copyAndCut();
      }
      if (this.state.phase === 'committed') {
        // After a kill between commit and switch, the switch is done again (it is idempotent).
        await this.switchAfterCommit();
        this.setPhase('cleaning');
      }
      if (this.state.phase === 'cleaning') {
        await this.cleanup();
        this.state.phase = 'done';
        archiveState(this.topo.stateDir, this.state);
        writeExpectedRings(this.topo.stateDir, null);
        this.deps.emit({ type: 'phase', phase: 'done', epoch: this.state.epoch });
      }
    } catch (e) {
      this.state.lastError = (e as Error).message;
      try {
        writeState(this.topo.stateDir, this.state);
      } catch {
        /* the record keeps its phase either way */
      }
      throw e;
    } finally {
      this.closeAll();
    }
  }

  private async startAddedShards(): Promise<void> {
    for (const name of this.state.addedShards) {
      const spec = this.topo.shards.find((s) => s.name === name)!;
      const known = await sentinelMaster(this.topo, name, this.deps.password);
      if (known === null) {
        try {
          await startShardInstances(this.topo, spec, this.deps.password, (l) => this.deps.emit({ type: 'info', message: l }));
        } catch (e) {
          throw new TransientError(`the added shard ${name} did not come up: ${(e as Error).message}; nothing was moved`, { cause: e });
        }
        if (this.state.phase === 'planned') {
          const keys = await withClient(spec.master, this.deps.password, (c) => c.dbsize(), { timeoutMs: 2000 });
          if (keys > 0) throw new InvalidInputError(`the added shard ${name} already holds ${keys} keys at ${spec.master}; an added shard must start empty`);
        }
        await sentinelMonitor(this.topo, name, spec.master, this.deps.password);
      }
      this.deps.emit({ type: 'shard-started', shard: name });
    }
  }

  private async master(shard: string, fresh = false): Promise<string> {
    if (!fresh && this.masters.has(shard)) return this.masters.get(shard)!;
    const topo = { ...this.topo, shards: this.allShards() };
    const m = await waitMaster(topo, shard, this.deps.password);
    if (this.masters.get(shard) !== m) {
      this.clients.get(shard)?.disconnect();
      this.clients.delete(shard);
    }
    this.masters.set(shard, m);
    return m;
  }

  private readonly connecting = new Map<string, Promise<Redis>>();

  /** One connection per shard's current master; concurrent callers share the one being made. */
  private async client(shard: string): Promise<Redis> {
    const have = this.clients.get(shard);
    if (have) return have;
    let p = this.connecting.get(shard);
    if (!p) {
      p = (async () => {
        const c = redisClient(await this.master(shard), this.deps.password, { timeoutMs: 30_000 });
        try {
          await c.connect();
        } catch (e) {
          c.disconnect();
          throw e;
        }
        this.clients.set(shard, c);
        return c;
      })().finally(() => this.connecting.delete(shard));
      this.connecting.set(shard, p);
    }
    return p;
  }

  private closeAll(): void {
    for (const t of this.trackers.values()) t.close();
    this.trackers.clear();
    for (const c of this.clients.values()) c.disconnect();
    this.clients.clear();
  }

  /** Keyspace events on every instance of every source (replicas too: a promoted one publishes from its first write). */
  private async enableEvents(): Promise<void> {
    for (const s of this.state.sources) {
      for (const addr of this.state.shardInstances[s] ?? []) {
        await withClient(addr, this.deps.password, async (c) => {
          const [, before] = (await c.config('GET', 'notify-keyspace-events')) as string[];
          if (!(addr in this.state.notifyBefore)) this.state.notifyBefore[addr] = before ?? '';
          await c.config('SET', 'notify-keyspace-events', 'KA');
          // A subscriber that falls behind a burst of writes must not be cut off at the default 32mb.
          await c.config('SET', 'client-output-buffer-limit', 'pubsub 1gb 512mb 120');
        }, { timeoutMs: 2000 }).catch((e) => {
          const replica = addr !== this.masters.get(s);
          if (!replica) throw e;
        });
      }
    }
    writeState(this.topo.stateDir, this.state);
  }

  private async restoreEvents(addrs: string[]): Promise<void> {
    for (const addr of addrs) {
      const before = this.state.notifyBefore[addr];
      if (before === undefined) continue;
      await withClient(addr, this.deps.password, async (c) => {
        await c.config('SET', 'notify-keyspace-events', before);
        await c.config('SET', 'client-output-buffer-limit', 'pubsub 33554432 8388608 60');
      }, { timeoutMs: 2000 }).catch(() => {});
    }
  }

  private async track(shard: string): Promise<DirtyTracker> {
    this.trackers.get(shard)?.close();
    const addr = await this.master(shard);
    const t = new DirtyTracker(shard, addr, this.deps.password, this.db, (k) => this.place.oldOwner(k) === shard && this.place.newOwner(k) !== shard);
    await t.start();
    this.trackers.set(shard, t);
    return t;
  }

  private count(r: CopyResult): void {
    const p = this.state.progress;
    p.keysCopied += r.copied;
    p.bytesCopied += r.bytes;
    p.keysDeleted += r.deleted;
    const now = Date.now();
    if (now - this.progressAt >= 250) {
      this.progressAt = now;
      this.emitProgress();
    }
  }

  private emitProgress(): void {
    const p = this.state.progress;
    const secs = Math.max((Date.now() - this.t0) / 1000, 0.001);
    let dirty = 0;
    for (const t of this.trackers.values()) dirty += t.dirty.size;
    this.deps.emit({
      type: 'progress', phase: this.state.phase, keysCopied: p.keysCopied, bytesCopied: p.bytesCopied, keysDeleted: p.keysDeleted,
      plannedKeys: this.state.planned.keys,
      keysPerSec: Math.round((p.keysCopied - this.copiedAtStart.keys) / secs),
      bytesPerSec: Math.round((p.bytesCopied - this.copiedAtStart.bytes) / secs),
      dirty,
    });
  }

  /**
   * Copies keys (grouped by their new owner) from a source. `viaMigrate`: keys without expiry go by MIGRATE from
   * the source (not while the sources are paused: MIGRATE is a write).
   */
  private async copyFrom(source: string, keys: Buffer[], rateLimited: boolean, viaMigrate: boolean): Promise<void> {
    const groups = new Map<string, Buffer[]>();
    for (const k of keys) {
      const to = this.place.newOwner(k);
      if (to === source) continue;
      const g = groups.get(to) ?? [];
      g.push(k);
      groups.set(to, g);
    }
    const src = await this.client(source);
    // Batches of up to 1000 keys, up to 4 in flight on the same connections: round trips overlap, while each
    // read script (about a microsecond a key) and each MIGRATE (bounded by bytes) stays short on the source.
    const batches: Array<{ to: string; part: Buffer[] }> = [];
    for (const [to, g] of groups) for (let i = 0; i < g.length; i += COPY_BATCH) batches.push({ to, part: g.slice(i, i + COPY_BATCH) });
    for (let i = 0; i < batches.length; i += 4) {
      await Promise.all(
        batches.slice(i, i + 4).map(async ({ to, part }) => {
          if (rateLimited) await this.limiter.take(part.length);
          const target = viaMigrate ? await this.migrateTarget(to) : null;
          this.count(await copyKeys(src, await this.client(to), part, this.tmpPrefix, target));
        }),
      );
    }
  }

  /** The destination's master as MIGRATE on a source reaches it. */
  private async migrateTarget(shard: string): Promise<MigrateTarget> {
    const { host, port } = mustParseAddress(await this.master(shard));
    return { host, port, db: this.db, password: this.deps.password, timeoutMs: 5000 };
  }

  /**
   * One full pass over a source: every key that leaves it is copied; with `reconcile`, copies at the
   * destinations whose source key is gone are removed first (they may come from an earlier pass or process).
   */
  private async passSource(source: string, reconcile: boolean): Promise<void> {
    const src = await this.client(source);
    if (reconcile) {
      for (const dest of this.state.destinations) {
        if (dest === source) continue;
        const dst = await this.client(dest);
        await scanAll(dst, async (keys) => {
          const mine = keys.filter((k) => this.place.oldOwner(k) === source && this.place.newOwner(k) === dest && !k.toString('latin1').startsWith(this.tmpPrefix));
          if (mine.length === 0) return;
          const p = src.pipeline();
          for (const k of mine) p.exists(k);
          const r = (await p.exec()) ?? [];
          const gone = mine.filter((_, i) => Number(r[i]?.[1]) === 0);
          if (gone.length > 0) {
            await dst.unlink(...gone);
            this.state.progress.keysDeleted += gone.length;
          }
        });
      }
    }
    // Pages of 2000 keys, 3 being copied while the next is fetched: SCAN, the read script and MIGRATE overlap.
    await scanPipelined(src, async (keys) => {
      const t = this.trackers.get(source);
      if (!t || t.lost) throw new RepassNeeded(`lost the keyspace subscription of ${source}`);
      const moving = keys.filter((k) => this.place.newOwner(k) !== source);
      if (moving.length > 0) await this.copyFrom(source, moving, true, true);
    }, 2000, 3);
    this.state.progress.passes++;
    writeState(this.topo.stateDir, this.state);
  }

  /** A source's pass, retried from the start after a lost subscription or a failover (of it or of a destination). */
  private async passWithRetry(source: string, reconcile: boolean): Promise<void> {
    let again = reconcile;
    for (let attempt = 1; ; attempt++) {
      try {
        if (!this.trackers.get(source) || this.trackers.get(source)!.lost) await this.track(source);
        await this.passSource(source, again);
        return;
      } catch (e) {
        if (attempt >= 20) throw e;
        this.deps.emit({ type: 'repass', shard: source, reason: (e as Error).message });
        await this.refreshAfterFault();
        again = true;
      }
    }
  }

  /** After an error: masters asked again; a changed master's client and subscription are redone. */
  private async refreshAfterFault(): Promise<void> {
    await new Promise((r) => setTimeout(r, 200));
    for (const shard of [...new Set([...this.state.sources, ...this.state.destinations])]) {
      const before = this.masters.get(shard);
      const now = await this.master(shard, true);
      if (before !== now) {
        this.deps.emit({ type: 'info', message: `shard ${shard}: master is now ${now} (was ${before ?? 'unknown'})` });
        if (this.trackers.has(shard)) this.trackers.get(shard)!.lost = true;
        // A destination that failed over may have lost copies that had not reached its replica: every source
        // that sends to it copies again.
        if (this.state.destinations.includes(shard)) for (const s of this.state.sources) if (this.trackers.has(s)) this.trackers.get(s)!.lost = true;
      }
    }
    for (const c of this.clients.values()) c.disconnect();
    this.clients.clear();
  }

  /** Copies every dirty key once. Returns how many were taken. `viaMigrate` off while the sources are paused. */
  private async drainOnce(rateLimited: boolean, viaMigrate: boolean): Promise<number> {
    let n = 0;
    await Promise.all(
      [...this.trackers.values()].map(async (t) => {
        for (;;) {
          const keys = t.take(1000);
          if (keys.length === 0) return;
          n += keys.length;
          await this.copyFrom(t.shard, keys, rateLimited, viaMigrate);
        }
      }),
    );
    return n;
  }

  private async copyAndCut(): Promise<void> {
    if (this.state.phase !== 'copying') this.setPhase('copying');
    for (const s of this.state.sources) await this.master(s, true);
    await this.enableEvents();
    for (const s of this.state.sources) await this.track(s);
    await Promise.all(this.state.sources.map((s) => this.passWithRetry(s, this.resumed)));
    for (let attempt = 1; ; attempt++) {
      await this.dirtyUntilSmall();
      this.setPhase('cutting');
      this.state.cut.attempts++;
      try {
        await this.cut(attempt);
        return;
      } catch (e) {
        if (this.state.phase !== 'cutting') throw e;
        if (attempt >= 10) throw e;
        this.deps.emit({ type: 'cut-retry', attempt, reason: (e as Error).message });
        this.state.phase = 'copying';
        writeState(this.topo.stateDir, this.state);
        await this.refreshAfterFault();
        for (const s of this.state.sources) if (this.trackers.get(s)?.lost) await this.passWithRetry(s, true);
      }
    }
  }

  /** Re-copies dirty keys until few are left (or the writers outpace us for a while: then the cut drains the rest). */
  private async dirtyUntilSmall(): Promise<void> {
    for (let round = 0; round < 50; round++) {
      for (const s of this.state.sources) if (this.trackers.get(s)?.lost) await this.passWithRetry(s, true);
      await Promise.all([...this.trackers.values()].map((t) => t.barrier()));
      let dirty = 0;
      for (const t of this.trackers.values()) dirty += t.dirty.size;
      if (dirty <= 200) return;
      try {
        await this.drainOnce(true, true);
      } catch (e) {
        this.deps.emit({ type: 'repass', shard: '*', reason: (e as Error).message });
        await this.refreshAfterFault();
      }
    }
  }

  /**
   * The pause must end well before nutcracker's timeout fails queued requests and before Sentinel's down-after
   * (its PINGs queue behind a paused PUBLISH on the same connection). The drain gets 60% of this; the switch a
   * fresh pause of this length: at most 1.6 x budget in all, half of min(timeout, down-after) at the most.
   */
  private pauseBudgetMs(): number {
    return Math.max(100, Math.min(1000, Math.floor(Math.min(this.topo.proxy.timeout, this.topo.sentinel.downAfterMilliseconds) / 3.2)));
  }

  private async cut(attempt: number): Promise<void> {
    const budget = this.pauseBudgetMs();
    const proxyStop = this.state.sources.some((s) => this.state.destinations.includes(s));
    const extra: Record<string, string> = {};
    for (const a of this.state.addedShards) extra[a] = await this.master(a);
    // The config is checked before anything pauses (the check is cached by content).
    const precheckLive = this.deps.liveYml();
    const precheck = renderNew(this.topo, this.deps.liveMasters(precheckLive), this.deps.password, extra);
    const bad = await this.deps.check(precheck);
    if (bad) throw new CheckFailedError(`the new proxy config fails nutcracker -t: ${bad}`);
    const sources = await Promise.all(this.state.sources.map(async (s) => ({ s, c: await this.client(s) })));
    let pausedAt = 0;
    let pausedAtEpoch = 0;
    let drainMs = 0;
    let unpaused = false;
    let drained = 0;
    const unpause = async () => {
      if (unpaused) return;
      unpaused = true;
      await Promise.all(sources.map(({ c }) => c.call('CLIENT', 'UNPAUSE').catch(() => {})));
    };
    try {
      await this.deps.switchProxy(async (liveText) => {
        const live = this.deps.liveMasters(liveText);
        for (const s of this.state.sources) {
          if (live[s] !== undefined && live[s] !== this.masters.get(s)) {
            throw new TransientError(`shard ${s}: the proxy now sends to ${live[s]}, not ${this.masters.get(s)} (a failover); the cut starts over`);
          }
        }
        const text = renderNew(this.topo, live, this.deps.password, extra);
        if (text !== precheck) {
          const why = await this.deps.check(text);
          if (why) throw new CheckFailedError(`the new proxy config fails nutcracker -t: ${why}`);
        }
        pausedAt = performance.now();
        pausedAtEpoch = Date.now();
        await Promise.all(sources.map(({ c }) => c.call('CLIENT', 'PAUSE', String(budget), 'WRITE')));
        if (proxyStop) {
          // A source is also a destination, and a paused destination takes no RESTORE: stop the proxy instead
          // (under the apply lock, so the agent does not restart it), then let writes through again: nothing
          // writes but our own copies.
          await this.deps.stopProxy();
          await unpause();
        }
        for (;;) {
          await Promise.all([...this.trackers.values()].map((t) => t.barrier()));
          const n = await this.drainOnce(false, false);
          drained += n;
          if (n === 0) break;
        }
        await Promise.all(this.state.destinations.map(async (d) => {
          const c = await this.client(d);
          const replicas = (this.state.shardInstances[d]?.length ?? 1) - 1;
          if (replicas === 0) return;
          const acked = Number(await c.call('WAIT', String(replicas), '100'));
          if (acked < Math.min(replicas, Math.max(1, this.topo.redis.minReplicasToWrite))) {
            throw new TransientError(`shard ${d}: only ${acked} of ${replicas} replicas acknowledged the copies`);
          }
        }));
        for (const t of this.trackers.values()) if (t.lost) throw new TransientError(`lost the keyspace subscription of ${t.shard} during the cut`);
        const held = performance.now() - pausedAt;
        drainMs = Math.round(held * 10) / 10;
        if (!proxyStop) {
          if (held > budget * 0.6) throw new TransientError(`the drain took ${Math.round(held)} ms, too close to the ${budget} ms pause; the cut starts over`);
          // A fresh pause for the switch (re-issuing extends it): the config write (fsync) and the proxy restart
          // on a loaded machine must not outlast it, or a write through the old proxy could reach a source.
          await Promise.all(sources.map(({ c }) => c.call('CLIENT', 'PAUSE', String(budget), 'WRITE')));
          // The old proxy goes before the write, not after it: an fsync slower than the pause must not let a
          // write through the old ring reach a source. The applier starts the new one after the write.
          if (this.topo.agent.apply === 'supervise' || this.topo.agent.apply === 'haproxy') await this.deps.stopProxy();
        }
        // The point of no return is the atomic write of this text as the proxy config, right after we return:
        // from then on whoever (re)starts the proxy starts it on the new ring, and a resume only goes forward.
        // The agent must take the new ring as right from the moment it is written (before we record it).
        writeExpectedRings(this.topo.stateDir, [liveText, text]);
        exitHook('switching');
        return text;
      }, extra);
    } catch (e) {
      if (!this.liveIsNewRing()) {
        writeExpectedRings(this.topo.stateDir, [this.state.oldYml]);
        await unpause();
        throw e;
      }
      // The new config is written but did not take effect (a failed restart): forward only, retried.
      this.deps.emit({ type: 'info', message: `the new proxy config is written but ${(e as Error).message}; retrying the switch` });
      await this.switchAfterCommit();
    }
    // Unpaused before the commit is recorded (an fsync): the live config is the commit, and a resume that finds
    // it records the commit itself.
    await unpause();
    const pauseMs = Math.round((performance.now() - pausedAt) * 10) / 10;
    this.state.cut.pauseMs = pauseMs;
    this.recordCommit();
    this.deps.emit({ type: 'cut', attempt, pauseMs, drained, mode: proxyStop ? 'proxy-stop' : 'pause', drainMs, pausedAtEpochMs: pausedAtEpoch });
    this.closeTrackers();
    await this.deps.restartAgent().catch(() => {});
  }

  private recordCommit(): void {
    if (this.state.phase === 'committed') return;
    this.state.phase = 'committed';
    this.state.committedAt = new Date().toISOString();
    writeState(this.topo.stateDir, this.state);
    writeExpectedRings(this.topo.stateDir, [this.state.newYml]);
    this.deps.emit({ type: 'phase', phase: 'committed', epoch: this.state.epoch });
    exitHook('committed');
  }

  /** Whether the live proxy config already has the new ring (the commit happened, whatever the record says). */
  liveIsNewRing(): boolean {
    try {
      return sameRing(this.deps.liveYml(), this.state.newYml, this.state.pool);
    } catch {
      return false;
    }
  }

  private closeTrackers(): void {
    for (const t of this.trackers.values()) t.close();
    this.trackers.clear();
  }

  private async switchAfterCommit(): Promise<void> {
    const extra: Record<string, string> = {};
    for (const a of this.state.addedShards) extra[a] = await this.master(a);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.deps.switchProxy(async (liveText) => {
          const text = renderNew(this.topo, this.deps.liveMasters(liveText), this.deps.password, extra);
          return text === liveText ? null : text;
        }, extra);
        break;
      } catch (e) {
        if (attempt >= 10) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    // A kill between commit and unpause leaves the pause to run out by itself (it is bounded); unpause anyway.
    for (const s of this.state.sources) {
      await withClient(await this.master(s, true), this.deps.password, (c) => c.call('CLIENT', 'UNPAUSE'), { timeoutMs: 2000 }).catch(() => {});
    }
    await this.deps.restartAgent().catch(() => {});
  }

  /** Old copies removed from the shards that kept running (rate-limited); removed shards stopped and forgotten. */
  private async cleanup(): Promise<void> {
    this.closeTrackers();
    for (const s of this.state.sources.filter((x) => !this.state.removedShards.includes(x))) {
      const c = await this.client(s);
      let removed = 0;
      await scanAll(c, async (keys) => {
        const stale = keys.filter((k) => this.place.newOwner(k) !== s);
        for (let i = 0; i < stale.length; i += 500) {
          const part = stale.slice(i, i + 500);
          await this.limiter.take(part.length);
          await c.unlink(...part);
          removed += part.length;
          this.state.progress.keysCleaned += part.length;
        }
      });
      writeState(this.topo.stateDir, this.state);
      this.deps.emit({ type: 'cleanup', shard: s, keysRemoved: removed });
    }
    const kept = this.topo.shards.flatMap((s) => s.instances);
    await this.restoreEvents(kept);
    for (const r of this.state.removedShards) {
      const failures = await sentinelRemove(this.topo, r, this.deps.password);
      if (failures.length > 0) throw new TransientError(`SENTINEL REMOVE ${r} failed on ${failures.join('; ')}; run reshard --resume`);
      const stopped = await stopShardInstances(this.topo, { name: r, master: this.state.shardInstances[r]![0]!, instances: this.state.shardInstances[r]!, weight: 1 });
      // Every key it held lives on its new owner now (the commit is past), so its data dirs go too.
      const removedDirs = removeStoppedInstanceDirs(this.topo, this.state.shardInstances[r]!);
      this.deps.emit({ type: 'shard-removed', shard: r, stopped, removedDirs });
    }
  }

  /** Before the commit: copies removed from the destinations, pauses lifted, an added shard stopped and forgotten. */
  async abort(): Promise<void> {
    try {
      for (const s of this.state.sources) {
        const m = await sentinelMaster({ ...this.topo, shards: this.allShards() }, s, this.deps.password);
        if (m) await withClient(m, this.deps.password, (c) => c.call('CLIENT', 'UNPAUSE'), { timeoutMs: 2000 }).catch(() => {});
      }
      for (const d of this.state.destinations.filter((x) => !this.state.addedShards.includes(x))) {
        const c = await this.client(d);
        let removed = 0;
        await scanAll(c, async (keys) => {
          const copies = keys.filter((k) => this.place.oldOwner(k) !== d || k.toString('latin1').startsWith(this.tmpPrefix));
          if (copies.length > 0) {
            await c.unlink(...copies);
            removed += copies.length;
          }
        });
        this.deps.emit({ type: 'cleanup', shard: d, keysRemoved: removed });
      }
      for (const a of this.state.addedShards) {
        const spec = this.topo.shards.find((s) => s.name === a);
        await sentinelRemove(this.topo, a, this.deps.password);
        if (!spec) continue;
        // Its data is nothing but copies: emptied so that adding it again later starts clean.
        for (const addr of spec.instances) {
          await withClient(addr, this.deps.password, async (c) => {
            const role = (await c.call('ROLE')) as unknown[];
            if (role[0] === 'master') await c.flushall();
          }, { timeoutMs: 5000 }).catch(() => {});
        }
        await stopShardInstances(this.topo, spec);
        removeStoppedInstanceDirs(this.topo, spec.instances);
      }
      await this.restoreEvents(Object.values(this.state.shardInstances).flat());
      this.state.phase = 'aborted';
      archiveState(this.topo.stateDir, this.state);
      writeExpectedRings(this.topo.stateDir, null);
      this.deps.emit({ type: 'phase', phase: 'aborted', epoch: this.state.epoch });
      this.deps.emit({
        type: 'info',
        message: `aborted: the proxy serves the old ring; put ${this.topo.file ?? 'the description'} back as it was (the agent and up judge the proxy config against it)`,
      });
    } finally {
      this.closeAll();
    }
  }
}
