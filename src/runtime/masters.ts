import { existsSync, readFileSync } from 'node:fs';
import { readPoolServers } from '../render/index.js';
import { proxyPaths, type Topology } from '../topology/index.js';
import { withClient } from './redis-client.js';

export type MasterSource = 'sentinels' | 'proxy-config' | 'description';

/**
 * The current master of each shard, for rendering configs of parts that start for the first time after
 * failovers: what a majority of the sentinels names, else the proxy's config, else the description.
 */
export async function currentMasters(
  topo: Topology,
  password: string | null,
): Promise<{ masters: Record<string, string>; source: Record<string, MasterSource> }> {
  const masters: Record<string, string> = {};
  const source: Record<string, MasterSource> = {};
  const answers = await Promise.all(
    topo.sentinel.instances.map((s) =>
      withClient(
        s,
        password,
        async (c) => {
          const out: Record<string, string> = {};
          for (const shard of topo.shards) {
            const r = (await c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', shard.name)) as [string, string] | null;
            if (Array.isArray(r) && r.length === 2) out[shard.name] = `${r[0]}:${r[1]}`;
          }
          return out;
        },
        { timeoutMs: 300 },
      ).catch(() => ({}) as Record<string, string>),
    ),
  );
  let proxyServers: Record<string, string> = {};
  const conf = proxyPaths(topo.stateDir).conf;
  if (existsSync(conf)) {
    try {
      proxyServers = Object.fromEntries(readPoolServers(readFileSync(conf, 'utf8'), topo.proxy.name).map((s) => [s.name, s.addr]));
    } catch {
      proxyServers = {};
    }
  }
  for (const shard of topo.shards) {
    const votes = new Map<string, number>();
    for (const a of answers) {
      const m = a[shard.name];
      if (m && shard.instances.includes(m)) votes.set(m, (votes.get(m) ?? 0) + 1);
    }
    // Only a majority of the configured sentinels counts: a tie or a lone answer may name a stale master, and
    // a restarted instance would then be started as its replica.
    const best = [...votes.entries()].sort((x, y) => y[1] - x[1])[0];
    if (best && best[1] > topo.sentinel.instances.length / 2) {
      masters[shard.name] = best[0];
      source[shard.name] = 'sentinels';
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
