import { InvalidInputError } from '../errors.js';
import { ringFromNutcrackerYml } from '../hashring/index.js';
import { nutcrackerTargets, readPoolServers, renderNutcrackerYml } from '../render/index.js';
import { withClient } from '../runtime/index.js';
import type { Topology } from '../topology/index.js';
import { scanAll } from './copy.js';
import type { ReshardDeps } from './deps.js';
import { failoversInProgress } from './masters.js';
import { describeChange, placement, type RingChange } from './rings.js';
import { readState } from './state.js';

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

/**
 * The estimate's rate without --rate: about what `bench reshard` measured for adding a shard on an idle 2-core
 * machine (docs/reshard.md: 2 -> 3 is the slower direction, every moved key lands on one shard's three instances).
 */
const UNTHROTTLED_KEYS_PER_SEC = 70_000;
const SAMPLE_EVERY = 50;

export function addrOf(yml: string, pool: string): Record<string, string> {
  return Object.fromEntries(readPoolServers(yml, pool).map((s) => [s.name, s.addr]));
}

/** The new proxy config, with the masters the live one sends to for shards it already has (server lines per apply mode). */
export function renderNew(topo: Topology, live: Record<string, string>, password: string | null, extraMasters: Record<string, string>): string {
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


export async function waitNoFailover(topo: Topology, shards: string[], password: string | null): Promise<string[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const busy = await failoversInProgress(topo, shards, password);
    if (busy.length === 0 || Date.now() > deadline) return busy;
    await new Promise((r) => setTimeout(r, 500));
  }
}

export async function checkMemory(topo: Topology, plan: ReshardPlan, password: string | null): Promise<void> {
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
