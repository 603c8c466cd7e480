import { parseRoleReply } from '../engine/index.js';
import { redisClient } from '../runtime/index.js';
import type { Topology } from '../topology/index.js';
import type { EventSink } from './events.js';

/**
 * Points the shard's other replicas at the just-promoted master, as the leader sentinel is about to.
 *
 * Why: with min-replicas-to-write 1 the new master refuses writes (NOREPLICAS) until a replica attaches,
 * and the leader sends its SLAVEOF to the other replicas only after its next once-a-second INFO poll of the
 * promoted one. Sending the same REPLICAOF as soon as the promotion is seen removes most of that second; the
 * leader's own SLAVEOF then finds the replica already there ("already connected") and changes nothing.
 *
 * It only ever points a replica at an instance of the same shard that itself answered ROLE master, and only
 * replicas that still follow the failed master; anything else (a replica already moved, one that is down, a
 * master) is left alone. If Sentinel later decides otherwise, it reconfigures these replicas as it always does.
 */
export async function repointReplicas(
  topo: Topology,
  password: string | null,
  shard: string,
  from: string,
  to: string,
  events: EventSink,
): Promise<void> {
  const spec = topo.shards.find((s) => s.name === shard);
  if (!spec || !spec.instances.includes(to)) return;
  const [toHost, toPort] = [to.slice(0, to.lastIndexOf(':')), to.slice(to.lastIndexOf(':') + 1)];
  const others = spec.instances.filter((a) => a !== from && a !== to);
  const t0 = performance.now();
  const results = await Promise.all(
    others.map(async (addr) => {
      const c = redisClient(addr, password, { timeoutMs: 300 });
      try {
        const role = parseRoleReply(await c.call('ROLE'));
        if ('error' in role) return `${addr}: left alone (${role.error})`;
        const following = role.role === 'slave' ? role.master : null;
        if (following !== from) return `${addr}: left alone (${role.role}${following ? ` of ${following}` : ''})`;
        await c.call('REPLICAOF', toHost, toPort);
        // Persist it as Sentinel would, so a restart right now does not go back to the dead master.
        await c.call('CONFIG', 'REWRITE').catch(() => undefined);
        return `${addr}: now replicates ${to}`;
      } catch (e) {
        return `${addr}: not repointed (${(e as Error).message})`;
      } finally {
        c.disconnect();
      }
    }),
  );
  events.emit('replicas-repointed', { shard, from, to, ms: Math.round(performance.now() - t0), results });
}
