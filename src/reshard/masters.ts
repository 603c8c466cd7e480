import { TransientError } from '../errors.js';
import { withClient, waitFor } from '../runtime/index.js';
import type { Topology } from '../topology/index.js';

/** The master a majority of the sentinels names for `shard`, confirmed by ROLE; null when there is none now. */
export async function sentinelMaster(topo: Topology, shard: string, password: string | null): Promise<string | null> {
  const answers = await Promise.all(
    topo.sentinel.instances.map((s) =>
      withClient(s, password, async (c) => {
        const r = (await c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', shard)) as [string, string] | null;
        return Array.isArray(r) ? `${r[0]}:${r[1]}` : null;
      }, { timeoutMs: 500 }).catch(() => null),
    ),
  );
  const votes = new Map<string, number>();
  for (const a of answers) if (a) votes.set(a, (votes.get(a) ?? 0) + 1);
  const best = [...votes.entries()].sort((x, y) => y[1] - x[1])[0];
  if (!best || best[1] <= topo.sentinel.instances.length / 2) return null;
  const role = await withClient(best[0], password, async (c) => ((await c.call('ROLE')) as unknown[])[0], { timeoutMs: 500 }).catch(() => null);
  return role === 'master' ? best[0] : null;
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

/** Shards with a failover in progress, or a master seen down, per any sentinel (SENTINEL MASTER flags). */
export async function failoversInProgress(topo: Topology, shards: string[], password: string | null): Promise<string[]> {
  const busy = new Set<string>();
  await Promise.all(
    topo.sentinel.instances.map((s) =>
      withClient(s, password, async (c) => {
        for (const shard of shards) {
          const r = (await c.call('SENTINEL', 'MASTER', shard).catch(() => null)) as string[] | null;
          if (!Array.isArray(r)) continue;
          const i = r.indexOf('flags');
          const flags = i >= 0 ? String(r[i + 1]) : '';
          if (/failover_in_progress|o_down|s_down|promoted/.test(flags)) busy.add(shard);
        }
      }, { timeoutMs: 500 }).catch(() => {}),
    ),
  );
  return [...busy];
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
