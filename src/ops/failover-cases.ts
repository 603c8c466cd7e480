/**
 * The six cases of the original system's test.sh, as data: what each kills, chosen from the masters the
 * sentinels report at the moment the case starts (earlier cases have moved them). Plus case 6's check that
 * every key lives on exactly one shard: on its master and every replica of it, on no instance of another.
 */
import { redisClient, waitFor } from '../runtime/index.js';
import type { ShardSpec, Topology } from '../topology/index.js';
import { keyAt } from './data.js';

export type KillCase = {
  n: number;
  /** Text after "Test case n : ". */
  title: string;
  /** The instances to kill at once, or why the case does not apply to this deployment. */
  victims: string[] | { skip: string };
  /** Shards whose master is killed, in the order reported ("New master of shard k"). */
  shards: Array<{ index: number; name: string }>;
};

const sp = (addr: string) => addr.replace(/:(\d+)$/, ' $1');
const list = (addrs: string[]) => addrs.map(sp).join(', ');

/** The replica of `shard` that is killed together with its master in case 5: the first one in description order. */
function firstReplica(shard: ShardSpec, master: string): string | undefined {
  return shard.instances.find((i) => i !== master);
}

/** Cases 2-5 for the current masters (shard name -> address). */
export function killCase(n: 2 | 3 | 4 | 5, topo: Topology, masters: Record<string, string>): KillCase {
  const s = topo.shards;
  const m = (i: number) => masters[s[i]!.name]!;
  const needReplica = (i: number): string | null => (s[i]!.instances.length < 2 ? `shard ${i + 1} has no replica to fail over to` : null);
  switch (n) {
    case 2:
    case 3: {
      const i = n - 2;
      if (!s[i]) return { n, title: `kill the master node of shard ${i + 1}`, victims: { skip: `there is no shard ${i + 1}` }, shards: [] };
      const why = needReplica(i);
      return {
        n,
        title: `kill the master node of shard ${i + 1} (${sp(m(i))})`,
        victims: why ? { skip: why } : [m(i)],
        shards: [{ index: i, name: s[i]!.name }],
      };
    }
    case 4: {
      const idx = s.length >= 2 ? [0, 1] : [0];
      const victims = idx.map(m);
      const why = idx.map(needReplica).find((w) => w !== null);
      return {
        n,
        title: `kill the master nodes of ${idx.length === 2 ? 'shard 1 & 2' : 'shard 1'} (${list(victims)})`,
        victims: s.length < 2 ? { skip: 'there is only one shard' } : why ? { skip: why } : victims,
        shards: idx.map((index) => ({ index, name: s[index]!.name })),
      };
    }
    case 5: {
      const idx = s.length >= 2 ? [0, 1] : [0];
      const victims = idx.flatMap((i) => [m(i), firstReplica(s[i]!, m(i))].filter((a): a is string => a !== undefined));
      const small = idx.find((i) => s[i]!.instances.length < 3);
      return {
        n,
        title: `kill four redis instances (two instances [one master, one replica] in each shard) (${list(victims)})`,
        victims: small !== undefined ? { skip: `shard ${small + 1} has fewer than 3 instances: killing two would leave nothing to fail over to` } : victims,
        shards: idx.map((index) => ({ index, name: s[index]!.name })),
      };
    }
  }
}

export interface ShardingCheck {
  ok: boolean;
  /** Per shard: how many of the keys each instance holds. */
  perShard: Array<{ name: string; instances: Array<{ addr: string; keys: number }> }>;
  /** Keys held by instances of more than one shard. */
  onSeveralShards: number;
  /** Keys missing from some instance of the shard that holds them (a replica behind or diverged). */
  incomplete: number;
  /** Keys found nowhere. */
  nowhere: number;
  /** Instances that did not answer. */
  unreachable: string[];
}

/**
 * EXISTS for every key on every instance. A key is well placed when the instances holding it are exactly the
 * instances of one shard. Replication is asynchronous, so the check is repeated for up to `settleMs` until it
 * holds; what it reports is the last look.
 */
export async function checkSharding(
  topo: Topology,
  password: string | null,
  opts: { count: number; prefix: string; settleMs?: number },
): Promise<ShardingCheck> {
  let last: ShardingCheck | null = null;
  await waitFor(
    async () => {
      last = await lookOnce(topo, password, opts.count, opts.prefix);
      return last.ok;
    },
    { timeoutMs: opts.settleMs ?? 5000, intervalMs: 100, what: 'every key on exactly one shard' },
  ).catch(() => undefined);
  return last!;
}

async function lookOnce(topo: Topology, password: string | null, count: number, prefix: string): Promise<ShardingCheck> {
  const keys = Array.from({ length: count }, (_, i) => keyAt(prefix, i));
  const unreachable: string[] = [];
  const held = await Promise.all(
    topo.shards.map((s) =>
      Promise.all(
        s.instances.map(async (addr) => {
          const c = redisClient(addr, password, { timeoutMs: 5000 });
          try {
            const pipe = c.pipeline();
            for (const k of keys) pipe.exists(k);
            const replies = (await pipe.exec()) ?? [];
            if (replies.some(([e]) => e !== null)) throw replies.find(([e]) => e !== null)![0];
            return replies.map(([, v]) => v === 1);
          } catch {
            unreachable.push(addr);
            return keys.map(() => false);
          } finally {
            c.disconnect();
          }
        }),
      ),
    ),
  );
  let onSeveralShards = 0;
  let incomplete = 0;
  let nowhere = 0;
  keys.forEach((_, j) => {
    const shardsHolding = held.map((instances) => instances.filter((h) => h[j]).length);
    const holding = shardsHolding.filter((n) => n > 0).length;
    if (holding === 0) nowhere++;
    if (holding > 1) onSeveralShards++;
    shardsHolding.forEach((n, si) => {
      if (n > 0 && n < topo.shards[si]!.instances.length) incomplete++;
    });
  });
  const perShard = topo.shards.map((s, si) => ({
    name: s.name,
    instances: s.instances.map((addr, ii) => ({ addr, keys: held[si]![ii]!.filter(Boolean).length })),
  }));
  return {
    ok: onSeveralShards === 0 && incomplete === 0 && nowhere === 0 && unreachable.length === 0,
    perShard,
    onSeveralShards,
    incomplete,
    nowhere,
    unreachable,
  };
}
