/**
 * With several proxies, a failover is complete only when every proxy sends the shard's writes to the new
 * master. Checked from the outside, as a client would see it, so it holds for proxies on other hosts too: a
 * write through the proxy must succeed and then be on an instance of the shard that says ROLE master (not the
 * killed one); once the round knows the elected master, every proxy's writes must land on that one.
 */
import { CheckFailedError } from '../errors.js';
import { waitFor, withClient } from '../runtime/index.js';
import { allProxies, type Topology } from '../topology/index.js';
import { roleOf } from './failover-observe.js';
import { keyForShard } from './failover-round.js';

export interface ProxyFollow {
  /** The proxy's listen address. */
  listen: string;
  /** ms from the kill until a write through this proxy landed on an instance that says master (not the killed one). */
  followedMs: number;
}

/** One key per proxy on the shard, apart from the probes' keys, so the checks do not write into what the probes measure. */
export function followKeys(topo: Topology, shard: string): Record<string, string> {
  const index = topo.shards.findIndex((s) => s.name === shard);
  return Object.fromEntries(allProxies(topo).map((p) => [p.listen, keyForShard(topo, index, `redis-shard:follow:${p.listen}:${shard}:`)]));
}

/**
 * Waits, for every proxy at once, until a write through it to `shard` lands on `opts.onto`, or (not given) on
 * any instance of the shard other than `oldMaster` that answers ROLE master. Started at the kill, each figure
 * is that proxy's own, not the sentinels' (whose majority names the new master ~1 s after the fast path moved
 * the proxies). A proxy that does not follow within `timeoutMs` fails the round, naming it and what it did last.
 */
export async function waitProxiesFollow(
  topo: Topology,
  password: string | null,
  shard: string,
  oldMaster: string,
  killedAt: number,
  timeoutMs: number,
  opts: { noreplicasCounts?: boolean; signal?: AbortSignal; onto?: string } = {},
): Promise<ProxyFollow[]> {
  const keys = followKeys(topo, shard);
  const others = topo.shards.find((s) => s.name === shard)!.instances.filter((i) => i !== oldMaster);
  const mastersNow = async (): Promise<string[]> => {
    if (opts.onto !== undefined) return [opts.onto];
    const roles = await Promise.all(others.map(async (i) => ({ i, r: await roleOf(i, password, 300) })));
    return roles.filter(({ r }) => 'role' in r && r.role === 'master').map(({ i }) => i);
  };
  return Promise.all(
    allProxies(topo).map(async (p) => {
      let last = 'nothing yet';
      let n = 0;
      try {
        await waitFor(
          async () => {
            const masters = await mastersNow();
            if (masters.length === 0) {
              last = `an instance of ${shard} other than ${oldMaster} to say ROLE master`;
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
            for (const m of masters) {
              if ((await withClient(m, password, (c) => c.get(keys[p.listen]!), { timeoutMs: 500 }).catch(() => null)) === token) return true;
            }
            last = `its write to land on ${masters.join(' or ')}`;
            return false;
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
