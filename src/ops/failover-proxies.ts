/**
 * With several proxies, a failover is complete only when every proxy sends the shard's writes to the new
 * master. Checked from the outside, as a client would see it, so it holds for proxies on other hosts too: a
 * write through the proxy must succeed and then be on the master the sentinels' majority names.
 */
import { CheckFailedError } from '../errors.js';
import { waitFor, withClient } from '../runtime/index.js';
import { allProxies, type Topology } from '../topology/index.js';
import { describeAnswers, sentinelView } from './failover-observe.js';
import { keyForShard } from './failover-round.js';

export interface ProxyFollow {
  /** The proxy's listen address. */
  listen: string;
  /** ms from the kill until a write through this proxy landed on the new master. */
  followedMs: number;
}

/** One key per proxy on the shard, apart from the probes' keys, so the checks do not write into what the probes measure. */
export function followKeys(topo: Topology, shard: string): Record<string, string> {
  const index = topo.shards.findIndex((s) => s.name === shard);
  return Object.fromEntries(allProxies(topo).map((p) => [p.listen, keyForShard(topo, index, `redis-shard:follow:${p.listen}:${shard}:`)]));
}

/**
 * Waits, for every proxy at once, until a write through it to `shard` lands on the master a majority of the
 * sentinels names (not `oldMaster`). Started at the kill, so each figure is that proxy's own. A proxy that does
 * not follow within `timeoutMs` fails the round, naming it and what it did last.
 */
export async function waitProxiesFollow(
  topo: Topology,
  password: string | null,
  shard: string,
  oldMaster: string,
  killedAt: number,
  timeoutMs: number,
  opts: { noreplicasCounts?: boolean; signal?: AbortSignal } = {},
): Promise<ProxyFollow[]> {
  const keys = followKeys(topo, shard);
  return Promise.all(
    allProxies(topo).map(async (p) => {
      let last = 'nothing yet';
      let n = 0;
      try {
        await waitFor(
          async () => {
            const v = (await sentinelView(topo, password, 300))[shard]!;
            if (v.master === null || v.master === oldMaster) {
              last = `a majority of sentinels to name a new master (${describeAnswers(v)})`;
              return false;
            }
            const token = `${p.listen}:${process.pid}:${++n}`;
            try {
              await withClient(p.listen, password, (c) => c.set(keys[p.listen]!, token), { timeoutMs: 500 });
            } catch (e) {
              const msg = (e as Error).message;
              // A shard left with fewer replicas than min-replicas-to-write refuses writes: the refusal comes from
              // a live master, which the dead old one cannot be.
              if (opts.noreplicasCounts && msg.startsWith('NOREPLICAS')) return true;
              last = `a write through it to succeed (${msg})`;
              return false;
            }
            const there = await withClient(v.master, password, (c) => c.get(keys[p.listen]!), { timeoutMs: 500 }).catch(() => null);
            if (there !== token) {
              last = `its write to land on ${v.master} (the new master has ${there === null ? 'nothing' : `"${there}"`})`;
              return false;
            }
            return true;
          },
          { timeoutMs, intervalMs: 50, what: `proxy ${p.listen} to follow ${shard}'s failover`, ...(opts.signal ? { signal: opts.signal } : {}) },
        );
      } catch (e) {
        throw new CheckFailedError(
          `proxy ${p.listen} did not follow ${shard}'s failover within ${Math.round(timeoutMs / 1000)} s: still waiting for ${last}`,
          { cause: e },
        );
      }
      return { listen: p.listen, followedMs: Math.round(performance.now() - killedAt) };
    }),
  );
}

/** Removes the keys waitProxiesFollow wrote (best effort: a cleanup failure is not the round's). */
export async function clearFollowKeys(topo: Topology, password: string | null, shard: string): Promise<void> {
  const keys = followKeys(topo, shard);
  await Promise.all(
    allProxies(topo).map((p) => withClient(p.listen, password, (c) => c.del(keys[p.listen]!), { timeoutMs: 1000 }).catch(() => undefined)),
  );
}
