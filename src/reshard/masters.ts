import { elect, parseRoleReply, querySentinels, votesFor } from '../engine/index.js';
import { TransientError } from '../errors.js';
import { withClient, waitFor } from '../runtime/index.js';
import type { Topology } from '../topology/index.js';

/** The elected master of `shard` (engine/election: a majority, highest epoch), confirmed by ROLE; null when none now. */
export async function sentinelMaster(topo: Topology, shard: string, password: string | null): Promise<string | null> {
  const reports = await querySentinels(topo.sentinel.instances, [shard], password, 500);
  const e = elect(votesFor(reports, shard), topo.sentinel.instances.length);
  if (!e.ok) return null;
  const role = await withClient(e.master, password, async (c) => parseRoleReply(await c.call('ROLE')), { timeoutMs: 500 }).catch(() => null);
  return role !== null && 'role' in role && role.role === 'master' ? e.master : null;
}

/** Waits (up to `timeoutMs`) for a confirmed master of `shard`. */
export async function waitMaster(topo: Topology, shard: string, password: string | null, timeoutMs = 30_000): Promise<string> {
  let found: string | null = null;
  await waitFor(async () => (found = await sentinelMaster(topo, shard, password)) !== null, {
    timeoutMs,
    intervalMs: 200,
    what: `a master of shard ${shard} that a majority of sentinels names`,
  }).catch((e) => {
    throw new TransientError(`shard ${shard}: no confirmed master (${(e as Error).message})`, { cause: e });
  });
  return found!;
}

/** Shards with a failover in progress, or whose sentinels cannot elect a master now. */
export async function failoversInProgress(topo: Topology, shards: string[], password: string | null): Promise<string[]> {
  const reports = await querySentinels(topo.sentinel.instances, shards, password, 500);
  return shards.filter((shard) => {
    const e = elect(votesFor(reports, shard), topo.sentinel.instances.length);
    return !e.ok || e.failoverInProgress;
  });
}

/** The replicas any sentinel knows for `shard` (for a shard the description no longer lists). */
export async function sentinelReplicas(topo: Topology, shard: string, password: string | null): Promise<string[]> {
  const seen = new Set<string>();
  await Promise.all(
    topo.sentinel.instances.map((s) =>
      withClient(s, password, async (c) => {
        const r = (await c.call('SENTINEL', 'REPLICAS', shard).catch(() => [])) as string[][];
        for (const rep of r) {
          const ip = rep[rep.indexOf('ip') + 1];
          const port = rep[rep.indexOf('port') + 1];
          if (ip && port) seen.add(`${ip}:${port}`);
        }
      }, { timeoutMs: 500 }).catch(() => {}),
    ),
  );
  return [...seen];
}
