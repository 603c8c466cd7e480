import { existsSync, readFileSync } from 'node:fs';
import { readHaproxyServers, readPoolServers } from '../render/index.js';
import { haproxyPaths, proxyPaths, sentinelPaths, type Topology } from '../topology/index.js';
import { elect, latestRecorded, parseSentinelConf, querySentinels, votesFor } from '../engine/index.js';

export type MasterSource = 'sentinels' | 'sentinel-config' | 'proxy-config' | 'description';

/**
 * The current master of each shard, for rendering configs of parts that start for the first time after
 * failovers: what the sentinels elect (engine/election.ts), else what the sentinels last wrote in their own config
 * files (a full restart: none of them answers yet), else the proxy's config, else the description.
 */
export async function currentMasters(
  topo: Topology,
  password: string | null,
): Promise<{ masters: Record<string, string>; source: Record<string, MasterSource> }> {
  const masters: Record<string, string> = {};
  const source: Record<string, MasterSource> = {};
  const reports = await querySentinels(topo.sentinel.instances, topo.shards.map((s) => s.name), password, 300);
  let proxyServers: Record<string, string> = {};
  const conf = proxyPaths(topo.proxyDir).conf;
  if (existsSync(conf)) {
    try {
      proxyServers = Object.fromEntries(readPoolServers(readFileSync(conf, 'utf8'), topo.proxy.name).map((s) => [s.name, s.addr]));
    } catch {
      proxyServers = {};
    }
  }
  // In apply mode "haproxy" nutcracker points at HAProxy's frontends; the masters are HAProxy's servers.
  const hcfg = haproxyPaths(topo.proxyDir).conf;
  if (existsSync(hcfg)) {
    try {
      const h = readHaproxyServers(readFileSync(hcfg, 'utf8'));
      for (const shard of topo.shards) if (h[shard.name] && shard.instances.includes(h[shard.name]!)) proxyServers[shard.name] = h[shard.name]!;
    } catch {
      /* unreadable: the description decides */
    }
  }
  const recorded = sentinelConfMasters(topo);
  for (const shard of topo.shards) {
    // The election's rule (a majority of the configured sentinels, highest config-epoch): a tie or a lone answer
    // may name a stale master, and a restarted instance would then be started as its replica.
    const e = elect(votesFor(reports, shard.name), topo.sentinel.instances.length);
    if (e.ok && shard.instances.includes(e.master)) {
      masters[shard.name] = e.master;
      source[shard.name] = 'sentinels';
    } else if (recorded[shard.name] && shard.instances.includes(recorded[shard.name]!)) {
      masters[shard.name] = recorded[shard.name]!;
      source[shard.name] = 'sentinel-config';
    } else if (proxyServers[shard.name] && shard.instances.includes(proxyServers[shard.name]!)) {
      masters[shard.name] = proxyServers[shard.name]!;
      source[shard.name] = 'proxy-config';
    } else {
      masters[shard.name] = shard.master;
      source[shard.name] = 'description';
    }
  }
  return { masters, source };
}

/**
 * The master of each shard as this host's sentinels last recorded it: Sentinel rewrites its config file on
 * every change, `sentinel monitor NAME HOST PORT Q` naming the current master and `sentinel config-epoch NAME E`
 * the epoch of the failover that elected it (engine/election.ts `latestRecorded` reads them).
 */
export function sentinelConfMasters(topo: Topology): Record<string, string> {
  const seen = new Map<string, Array<{ addr: string; epoch: number }>>();
  for (const s of topo.sentinel.instances) {
    let text: string;
    try {
      text = readFileSync(sentinelPaths(topo.stateDir, s).conf, 'utf8');
    } catch {
      continue;
    }
    const { monitors, epochs } = parseSentinelConf(text);
    for (const [name, addr] of Object.entries(monitors)) {
      const list = seen.get(name) ?? [];
      list.push({ addr, epoch: epochs[name] ?? 0 });
      seen.set(name, list);
    }
  }
  const out: Record<string, string> = {};
  for (const [name, list] of seen) {
    const m = latestRecorded(list);
    if (m !== null) out[name] = m;
  }
  return out;
}
