/**
 * `redis-shard status`, step one: observe. Asks everything (instances, sentinels, every proxy and its HAProxy, the
 * agents' files) in parallel, each with a short timeout, and returns what it saw; status.ts analyses it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readPoolServers } from '../render/index.js';
import { localParts, ourPid, readRejections, type ProxyRejections } from '../runtime/index.js';
import { agentPaths, allProxies, currentProxy, proxyPaths, proxyView, readPassword, type Topology } from '../topology/index.js';
import { observeHaproxy, type HaproxyObservation } from './haproxy-view.js';
import { ringForTopology } from './locate.js';
import { parseReplicationInfo, type ReplicationInfo } from '../engine/index.js';
import { probe, shortError } from './probe.js';
import { askSentinels, type SentinelView } from './sentinel-view.js';

export interface InstanceObservation {
  addr: string;
  up: boolean;
  error?: string;
  replication?: ReplicationInfo;
  keys?: number;
  /** The live min-replicas-to-write (CONFIG GET): what the instance enforces, whatever the description says. */
  minReplicasToWrite?: number;
}

export type ProxyConfigObservation =
  | { state: 'absent'; file: string }
  | { state: 'read'; file: string; servers: Record<string, string> }
  | { state: 'unreadable'; file: string; error: string };

export interface Observations {
  at: Date;
  instances: Record<string, InstanceObservation>;
  sentinels: SentinelView[];
  proxy: {
    up: boolean;
    error?: string;
    /** Per shard name: a GET of a key the ring places on that shard went through (null: not probed). */
    reaches: Record<string, { ok: boolean; error?: string } | null>;
  };
  proxyConfig: ProxyConfigObservation;
  /** The proxy runs on this host, so its config file should be here. */
  proxyLocal: boolean;
  /** The agent's PID when it runs on this host (it runs beside the proxy); null when not running here. */
  agentPid: number | null;
  /** Apply mode "haproxy", proxy on this host: HAProxy's view (haproxy-view.ts); null otherwise. */
  haproxy?: HaproxyObservation | null;
  /** Ring's predicted fraction of keys per shard (topo.shards order), or null when it has none (random). */
  predictedShare: number[] | null;
  /** Client connections the proxy closed over unsupported commands (its log, on this host); absent: not read. */
  rejections?: { windowMs: number; found: ProxyRejections | null };
  /**
   * With several proxies (`proxies:`), each one's observation, the first's also in the fields above; absent
   * with one proxy.
   */
  proxies?: ProxyObservation[];
}

/** What status sees of one proxy: the fields of Observations that are per proxy. */
export interface ProxyObservation {
  listen: string;
  proxy: Observations['proxy'];
  proxyConfig: ProxyConfigObservation;
  proxyLocal: boolean;
  agentPid: number | null;
  haproxy?: HaproxyObservation | null;
}

export interface StatusOptions {
  /** Act as this host of the description (decides whether the proxy config is expected here). */
  host?: string;
  /** Per-connection timeout. Default 700 ms. */
  timeoutMs?: number;
  /** How far back the proxy's log is read for rejected client commands. Default 15 minutes. */
  rejectionsWindowMs?: number;
  /**
   * Only the proxy `topo` describes (an agent's view), not every proxy: an agent's /metrics are its own
   * proxy's. Default: every proxy, the one `topo` describes first.
   */
  ownProxyOnly?: boolean;
}

export async function observeStatus(topo: Topology, opts: StatusOptions = {}): Promise<Observations> {
  const timeoutMs = opts.timeoutMs ?? 700;
  const password = readPassword(topo);
  const addrs = topo.shards.flatMap((s) => s.instances);
  let ring: ReturnType<typeof ringForTopology> | null = null;
  try {
    ring = ringForTopology(topo);
  } catch {
    ring = null;
  }
  const here = new Set(localParts(topo, opts.host).proxies);
  const own = currentProxy(topo);
  const observed = opts.ownProxyOnly ? [own] : [own, ...allProxies(topo).filter((p) => p !== own)];
  const [instances, sentinels, proxies] = await Promise.all([
    Promise.all(addrs.map((a) => observeInstance(a, password, timeoutMs))),
    askSentinels(topo, password, timeoutMs),
    Promise.all(observed.map((p) => observeOneProxy(proxyView(topo, p), here.has(p), password, timeoutMs, ring))),
  ]);
  const first = proxies[0]!;
  let predictedShare: number[] | null = null;
  try {
    predictedShare = topo.proxy.distribution === 'random' ? null : (ring?.share() ?? null);
  } catch {
    predictedShare = null;
  }
  const { listen: _listen, ...firstFields } = first;
  // Rejected clients are counted from the first observed proxy on this host's log.
  const logOf = observed.find((p) => here.has(p));
  return {
    at: new Date(),
    instances: Object.fromEntries(instances.map((i) => [i.addr, i])),
    sentinels,
    ...firstFields,
    predictedShare,
    ...(logOf ? { rejections: readProxyRejections(proxyView(topo, logOf), opts.rejectionsWindowMs ?? 15 * 60_000) } : {}),
    ...(proxies.length > 1 ? { proxies } : {}),
  };
}

/** One proxy (`topo` is its view): reachable, its config, its HAProxy and agent when they run on this host. */
async function observeOneProxy(
  topo: Topology,
  local: boolean,
  password: string | null,
  timeoutMs: number,
  ring: ReturnType<typeof ringForTopology> | null,
): Promise<ProxyObservation> {
  const [proxy, haproxy] = await Promise.all([observeProxy(topo, password, timeoutMs, ring), observeHaproxy(topo, local)]);
  return {
    listen: topo.proxy.listen,
    proxy,
    proxyConfig: readProxyConfig(topo),
    haproxy,
    proxyLocal: local,
    agentPid: ourPid(agentPaths(topo.proxyDir).pid, topo.stateDir),
  };
}

function readProxyRejections(topo: Topology, windowMs: number): Observations['rejections'] {
  try {
    return { windowMs, found: readRejections(proxyPaths(topo.proxyDir).log, { windowMs }) };
  } catch {
    // An unreadable log costs this line of the report, not the report.
    return { windowMs, found: null };
  }
}

async function observeInstance(addr: string, password: string | null, timeoutMs: number): Promise<InstanceObservation> {
  try {
    return await probe(addr, password, timeoutMs, async (c) => {
      const [[e1, info], [e2, keys], [e3, minReplicas]] = (await c.pipeline().info('replication').dbsize().config('GET', 'min-replicas-to-write').exec()) as [
        [Error | null, string],
        [Error | null, number],
        [Error | null, string[]],
      ];
      if (e1) throw e1;
      const replication = parseReplicationInfo(info);
      const out: InstanceObservation = { addr, up: true };
      if (replication) out.replication = replication;
      if (!e2) out.keys = keys;
      if (!e3 && Array.isArray(minReplicas) && /^[0-9]+$/.test(String(minReplicas[1]))) out.minReplicasToWrite = Number(minReplicas[1]);
      return out;
    });
  } catch (e) {
    return { addr, up: false, error: shortError(e) };
  }
}

/** A key the ring places on each shard, so a GET through the proxy shows whether that shard is reachable. */
function probeKeys(topo: Topology, ring: ReturnType<typeof ringForTopology> | null): Array<string | null> {
  const out: Array<string | null> = topo.shards.map(() => null);
  if (ring === null || topo.proxy.distribution === 'random') return out;
  let missing = out.length;
  for (let n = 0; n < 100_000 && missing > 0; n++) {
    const key = `redis-shard:status-probe:${n}`;
    const i = ring.locate(Buffer.from(key));
    if (out[i] === null) {
      out[i] = key;
      missing--;
    }
  }
  return out;
}

async function observeProxy(
  topo: Topology,
  password: string | null,
  timeoutMs: number,
  ring: ReturnType<typeof ringForTopology> | null,
): Promise<Observations['proxy']> {
  const keys = probeKeys(topo, ring);
  const reaches: Observations['proxy']['reaches'] = Object.fromEntries(topo.shards.map((s) => [s.name, null]));
  try {
    return await probe(topo.proxy.listen, password, timeoutMs, async (c) => {
      // nutcracker answers PING itself; the GETs go to the shards, as a client's would.
      await c.ping();
      const pipe = c.pipeline();
      const probed: string[] = [];
      keys.forEach((k, i) => {
        if (k === null) return;
        probed.push(topo.shards[i]!.name);
        pipe.get(k);
      });
      const replies = (await pipe.exec()) ?? [];
      probed.forEach((name, i) => {
        const err = replies[i]?.[0];
        reaches[name] = err ? { ok: false, error: shortError(err) } : { ok: true };
      });
      return { up: true, reaches };
    });
  } catch (e) {
    return { up: false, error: shortError(e), reaches };
  }
}

function readProxyConfig(topo: Topology): ProxyConfigObservation {
  const file = proxyPaths(topo.proxyDir).conf;
  if (!existsSync(file)) return { state: 'absent', file };
  try {
    const servers = readPoolServers(readFileSync(file, 'utf8'), topo.proxy.name);
    return { state: 'read', file, servers: Object.fromEntries(servers.map((s) => [s.name, s.addr])) };
  } catch (e) {
    return { state: 'unreadable', file, error: (e as Error).message };
  }
}
