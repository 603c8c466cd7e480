/**
 * Drift: settings the description says one thing about and the running (or rendered) stack another. Configs
 * are rendered once, at a part's first start (Redis and Sentinel rewrite their own files after), so an edit of
 * the description changes nothing by itself. `findDrift` names every such setting; `applyDrift` sets the ones
 * the engines take live (SENTINEL SET, which Sentinel persists itself; CONFIG SET + CONFIG REWRITE) and leaves
 * the rest, saying what they need.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ringDifferences } from '../render/index.js';
import { localParts, withClient } from '../runtime/index.js';
import { proxyPaths, proxyView, readPassword, type Topology } from '../topology/index.js';

export interface Drift {
  /** The description's field: "sentinel.downAfterMilliseconds". */
  field: string;
  /** The part that differs: "sentinel 127.0.0.1:26379 (s1)", "redis 127.0.0.1:6666", "proxy config PATH". */
  where: string;
  want: string;
  have: string;
  /** How to set it live, or null when it needs a restart (`restart` says which). */
  live: { addr: string; command: string[]; rewrite: boolean } | null;
  restart?: string;
  /** For a difference that is not one value against another (key placement): the whole difference. */
  text?: string;
}

const SENTINEL_FIELDS: Array<[field: string, key: string, value: (t: Topology) => number]> = [
  ['sentinel.quorum', 'quorum', (t) => t.sentinel.quorum],
  ['sentinel.downAfterMilliseconds', 'down-after-milliseconds', (t) => t.sentinel.downAfterMilliseconds],
  ['sentinel.failoverTimeout', 'failover-timeout', (t) => t.sentinel.failoverTimeout],
  ['sentinel.parallelSyncs', 'parallel-syncs', (t) => t.sentinel.parallelSyncs],
];

const REDIS_FIELDS: Array<[field: string, key: string, value: (t: Topology) => string]> = [
  ['redis.minReplicasToWrite', 'min-replicas-to-write', (t) => String(t.redis.minReplicasToWrite)],
  ['redis.minReplicasMaxLag', 'min-replicas-max-lag', (t) => String(t.redis.minReplicasMaxLag)],
  ['redis.appendonly', 'appendonly', (t) => (t.redis.appendonly ? 'yes' : 'no')],
  ['redis.maxmemory', 'maxmemory', (t) => String(t.redis.maxmemory)],
];

/** Pool keys of nutcracker.yml that are ours to compare (the ring's own keys are ringDifferences' job). */
const PROXY_FIELDS = ['listen', 'timeout', 'backlog', 'preconnect', 'server_connections', 'auto_eject_hosts', 'server_retry_timeout', 'server_failure_limit', 'tcpkeepalive', 'redis_db'] as const;

const PLACEMENT =
  'moves keys between shards: not applied live; the proxy keeps the placement it runs, and up will not start a proxy on this file until it and the description agree (moving keys is a reshard)';

const PROXY_RESTART = 'needs a proxy restart: nutcracker cannot reload; set it in the nutcracker.yml named (the agent restarts nutcracker on the new file within a second, dropping client connections) or remove that file before the next up';

/**
 * Every drifted setting of the parts that answer (any host), and of this host's proxy config. A part that does
 * not answer is skipped: status reports it as down.
 */
export async function findDrift(topo: Topology, opts: { host?: string; timeoutMs?: number } = {}): Promise<Drift[]> {
  const password = readPassword(topo);
  const timeoutMs = opts.timeoutMs ?? 1000;
  const out: Drift[] = [];
  await Promise.all(
    topo.sentinel.instances.map(async (addr) => {
      const views = await withClient(
        addr,
        password,
        async (c) => Promise.all(topo.shards.map(async (s) => [s.name, pairs((await c.call('SENTINEL', 'MASTER', s.name)) as string[])] as const)),
        { timeoutMs },
      ).catch(() => null);
      for (const [shard, view] of views ?? []) {
        for (const [field, key, value] of SENTINEL_FIELDS) {
          const want = String(value(topo));
          const have = view[key];
          if (have !== undefined && have !== want) {
            out.push({ field, where: `sentinel ${addr} (${shard})`, want, have, live: { addr, command: ['SENTINEL', 'SET', shard, key, want], rewrite: false } });
          }
        }
      }
    }),
  );
  await Promise.all(
    topo.shards.flatMap((s) => s.instances).map(async (addr) => {
      const got = await withClient(
        addr,
        password,
        async (c) => Promise.all(REDIS_FIELDS.map(async ([, key]) => ((await c.call('CONFIG', 'GET', key)) as string[])[1])),
        { timeoutMs },
      ).catch(() => null);
      if (got === null) return;
      REDIS_FIELDS.forEach(([field, key, value], i) => {
        const want = value(topo);
        const have = got[i];
        if (have !== undefined && have !== want) out.push({ field, where: `redis ${addr}`, want, have, live: { addr, command: ['CONFIG', 'SET', key, want], rewrite: true } });
      });
    }),
  );
  for (const p of localParts(topo, opts.host).proxies) out.push(...proxyDrift(proxyView(topo, p)));
  const rank = (d: Drift) => `${d.field}\u0000${d.where}`;
  return out.sort((a, b) => (rank(a) < rank(b) ? -1 : 1));
}

function proxyDrift(topo: Topology): Drift[] {
  const conf = proxyPaths(topo.proxyDir).conf;
  let pool: Record<string, unknown>;
  const placement: Drift[] = [];
  try {
    const text = readFileSync(conf, 'utf8');
    // A description edited to another hash, weight or shard list: the running proxy keeps the old placement,
    // the agent refuses the file as it is, and up refuses to start a proxy on it.
    for (const d of ringDifferences(text, topo)) {
      placement.push({ field: 'key placement', where: `proxy config ${conf}`, want: '', have: '', live: null, text: d, restart: PLACEMENT });
    }
    const doc = parse(text, { schema: 'failsafe' }) as Record<string, unknown> | null;
    const p = doc?.[topo.proxy.name];
    if (p === null || typeof p !== 'object' || Array.isArray(p)) return placement;
    pool = p as Record<string, unknown>;
  } catch {
    return []; // absent or unreadable: status says so
  }
  const out: Drift[] = [...placement];
  for (const key of PROXY_FIELDS) {
    const v = topo.proxy[key];
    const want = v === undefined ? undefined : String(v);
    const have = pool[key] === undefined ? undefined : String(pool[key]);
    if (want !== have) {
      out.push({ field: `proxy.${key}`, where: `proxy config ${conf}`, want: want ?? '(not set)', have: have ?? '(not set)', live: null, restart: PROXY_RESTART });
    }
  }
  return out;
}

export interface DriftApplied {
  applied: Drift[];
  /** Drift that no live command can fix. */
  needsRestart: Drift[];
  failed: Array<{ drift: Drift; error: string }>;
}

/** Sets every live-settable drift; Redis instances then CONFIG REWRITE so a restart keeps the new values. */
export async function applyDrift(topo: Topology, opts: { host?: string; timeoutMs?: number } = {}): Promise<DriftApplied> {
  const password = readPassword(topo);
  const drift = await findDrift(topo, opts);
  const result: DriftApplied = { applied: [], needsRestart: drift.filter((d) => d.live === null), failed: [] };
  const byAddr = new Map<string, Drift[]>();
  for (const d of drift) if (d.live) byAddr.set(d.live.addr, [...(byAddr.get(d.live.addr) ?? []), d]);
  await Promise.all(
    [...byAddr.entries()].map(async ([addr, list]) => {
      await withClient(
        addr,
        password,
        async (c) => {
          for (const d of list) {
            try {
              await c.call(d.live!.command[0]!, ...d.live!.command.slice(1));
              result.applied.push(d);
            } catch (e) {
              result.failed.push({ drift: d, error: (e as Error).message });
            }
          }
          if (list.some((d) => d.live!.rewrite && result.applied.includes(d))) await c.call('CONFIG', 'REWRITE');
        },
        { timeoutMs: opts.timeoutMs ?? 2000 },
      ).catch((e: Error) => {
        for (const d of list) if (!result.applied.includes(d)) result.failed.push({ drift: d, error: e.message });
      });
    }),
  );
  return result;
}

/** One line per drift, for status, up and drift. */
export function driftLine(d: Drift): string {
  if (d.text !== undefined) return `${d.field}: ${d.where}: ${d.text} (${d.restart})`;
  return `${d.field}: description ${d.want}, ${d.where} has ${d.have}${d.live ? '' : ` (${d.restart})`}`;
}

function pairs(list: string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i + 1 < list.length; i += 2) o[list[i]!] = list[i + 1]!;
  return o;
}
