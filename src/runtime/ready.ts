import { pairsToObject, parseRoleReply } from '../engine/index.js';
import type { Topology } from '../topology/index.js';
import type { LocalParts } from './host.js';
import { TransientError } from '../errors.js';
import { withClient } from './redis-client.js';
import { waitFor } from './wait.js';

type Pairs = string[];

async function answersPing(addr: string, password: string | null): Promise<boolean> {
  return withClient(addr, password, async (c) => (await c.ping()) === 'PONG', { timeoutMs: 300 }).catch(() => false);
}

/** Why this stack is not ready yet, or null when it is. Only parts that answer at all are waited for. */
export async function notReadyReason(topo: Topology, parts: LocalParts, password: string | null): Promise<string | null> {
  const allRedis = topo.shards.flatMap((s) => s.instances);
  const redisUp = new Set<string>();
  await Promise.all(allRedis.map(async (a) => (await answersPing(a, password)) && redisUp.add(a)));
  for (const a of parts.redis) if (!redisUp.has(a)) return `${a} does not answer PING`;
  // Two instances of a shard that both say master (an old master restarted before Sentinel demoted it) would
  // each take writes: not ready until only one does.
  for (const shard of topo.shards) {
    const claim: string[] = [];
    for (const a of shard.instances.filter((i) => redisUp.has(i))) {
      const role = await withClient(a, password, (c) => c.call('ROLE'), { timeoutMs: 500 }).catch(() => null);
      const r = role === null ? null : parseRoleReply(role);
      if (r !== null && !('error' in r) && r.role === 'master') claim.push(a);
    }
    if (claim.length > 1) return `shard ${shard.name} has ${claim.length} instances that say they are master: ${claim.join(', ')}`;
  }
  for (const a of parts.redis) {
    const role = parseRoleReply(await withClient(a, password, (c) => c.call('ROLE'), { timeoutMs: 500 }));
    if ('error' in role) return `${a}: ${role.error}`;
    // A replica whose master is on a host not started yet cannot link; that host's own `up` waits for it.
    if (role.role === 'slave' && role.master !== null && role.linkState !== 'connected' && redisUp.has(role.master)) {
      return `replica ${a} is not linked to its master ${role.master} yet (${role.linkState})`;
    }
  }
  const sentinelsUp = new Set<string>();
  await Promise.all(topo.sentinel.instances.map(async (a) => (await answersPing(a, password)) && sentinelsUp.add(a)));
  for (const s of parts.sentinels) {
    if (!sentinelsUp.has(s)) return `sentinel ${s} does not answer PING`;
    const why = await withClient(s, password, async (c) => {
      for (const shard of topo.shards) {
        const replicas = ((await c.call('SENTINEL', 'REPLICAS', shard.name)) as Pairs[]).map(pairsToObject);
        const seen = replicas.filter((r) => !/s_down|disconnected/.test(r.flags ?? '')).map((r) => `${r.ip}:${r.port}`);
        const want = shard.instances.filter((i) => redisUp.has(i)).length - 1;
        if (seen.length < want) return `sentinel ${s} sees ${seen.length} of ${want} live replicas of ${shard.name}`;
        const others = ((await c.call('SENTINEL', 'SENTINELS', shard.name)) as Pairs[]).map(pairsToObject);
        const seenS = others.filter((r) => !/s_down|disconnected/.test(r.flags ?? '')).length;
        const wantS = sentinelsUp.size - 1;
        if (seenS < wantS) return `sentinel ${s} sees ${seenS} of ${wantS} other live sentinels for ${shard.name}`;
      }
      return null;
    }, { timeoutMs: 500 });
    if (why) return why;
  }
  for (const p of parts.proxies) if (!(await answersPing(p.listen, password))) return `proxy ${p.listen} does not answer PING`;
  return null;
}

export async function waitForStackReady(
  topo: Topology,
  parts: LocalParts,
  password: string | null,
  opts: { timeoutMs: number; log?: (line: string) => void; signal?: AbortSignal },
): Promise<void> {
  let last: string | null = null;
  await waitFor(
    async () => {
      const why = await notReadyReason(topo, parts, password);
      if (why !== null && why !== last) opts.log?.(`waiting: ${why}`);
      last = why;
      return why === null;
    },
    { timeoutMs: opts.timeoutMs, intervalMs: 200, what: 'the stack to be ready', signal: opts.signal },
  ).catch((e) => {
    throw new TransientError(`${(e as Error).message}${last ? `; last check: ${last}` : ''}`, { cause: e });
  });
}
