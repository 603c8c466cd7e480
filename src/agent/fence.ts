import type { RoleProbe, ShardDecision } from './analyze.js';

/**
 * Fencing a shard the agent can no longer vouch for (agent.fence). The case it exists for is Jepsen's: the
 * proxy, its agent and one shard's master end up on the minority side of a split with at most one sentinel.
 * The majority elects a new master; the old one keeps acknowledging the proxy's writes until
 * min-replicas-max-lag stops it, and every one of those writes is discarded when it is demoted after the heal.
 * The agent cannot see the election, but it can see that it has lost the sentinels' majority and that the
 * master it sends traffic to is cut off from its replicas. Then it points that shard's server line at an
 * address that refuses: clients get errors, not acknowledgements that will be lost.
 *
 * Never in a normal failover, a sentinel host cut off, or the agent cut off from the sentinels only: all three
 * keep the majority, or keep the master confirmable. "Confirmed" = the master answers ROLE master and at least
 * one other instance of the shard, reachable from here, answers ROLE slave of that master with its link
 * connected: the master is replicating, so what it acknowledges is not confined to one side. A master that does
 * not answer at all is left alone: it acknowledges nothing, the proxy's requests to it fail already.
 *
 * How a shard is fenced depends on the apply mode. Modes that edit nutcracker's server line point it at
 * `address`. Mode haproxy puts the shard's HAProxy backend server in maintenance (runtime API, with `disabled` on
 * its line in haproxy.cfg so a restarted HAProxy starts fenced) and leaves its address alone: nutcracker's
 * connection through the frontend is closed at once, clients get errors, and HAProxy itself keeps the master
 * it was fenced from, so an agent restarted while the fence holds still knows what to confirm.
 *
 * A fence never outlives the majority: any pass that sees the majority again unfences (unfenceOnMajority),
 * whatever the setting, onto the master the majority names (the same one, or the new one of a failover that
 * happened during the fence: the switch and the unfence are one apply). Only the majority lifts it: without the
 * majority, nothing seen from this side shows that the other side has not elected (or is not electing) another
 * master. A replica that says it is connected to the old master proves nothing then: a replica notices a dead
 * link only after repl-timeout (60 s), so one cut off with the majority still says "connected" for a minute, and
 * right after a heal the majority's failover can still promote another replica. An earlier "confirmed again"
 * rule unfenced on that evidence; partitions.test.ts caught it acknowledging writes on the old master after the
 * heal that the majority's failover then discarded.
 */

export interface FenceSettings {
  enabled: boolean;
  /** How long the sentinels' majority must have been missing (observed) before fencing. */
  afterMs: number;
  /** Where a fenced shard's server line points: an address that refuses connections. */
  address: string;
}

export interface FenceShardInput {
  shard: string;
  instances: string[];
  /** The proxy's address for the shard now (the fence address when fenced by address). */
  current: string | null;
  /** Whether the shard is fenced now (mode haproxy: its backend in maintenance; else current is the fence address). */
  fenced: boolean;
  /** Since when this shard's passes have seen no majority of sentinels; null when the last pass had one. */
  noMajoritySince: number | null;
  roles: Record<string, RoleProbe>;
  now: number;
}

export type FenceDecision =
  | { action: 'none' }
  | { action: 'fence'; from: string; noMajorityMs: number; why: string }
  | { action: 'unfence'; to: string; why: string };

/** Whether `master` is confirmed by what this side of the network shows (see above). */
export function confirmedMaster(master: string, instances: string[], roles: Record<string, RoleProbe>): { ok: boolean; why: string } {
  const r = roles[master];
  if (r === undefined || 'error' in r) return { ok: false, why: `${master} does not answer (${r && 'error' in r ? r.error : 'not probed'})` };
  if (r.role !== 'master') return { ok: false, why: `${master} says ROLE ${r.role}` };
  const followers = instances.filter((i) => {
    if (i === master) return false;
    const x = roles[i];
    return x !== undefined && !('error' in x) && x.role === 'slave' && x.master === master && x.linkState === 'connected';
  });
  if (followers.length === 0) return { ok: false, why: `no replica of ${master} that answers here is connected to it` };
  return { ok: true, why: `${followers.join(', ')} replicate from it` };
}

/** Addresses whose ROLE the fence decision needs: every instance of the shard (only while the majority is missing). */
export function fenceProbes(s: Pick<FenceShardInput, 'instances'>): string[] {
  return s.instances;
}

export function decideFence(f: FenceSettings, s: FenceShardInput): FenceDecision {
  // A fenced shard stays fenced until the majority is back (unfenceOnMajority; see above why nothing less will do).
  if (!f.enabled || s.noMajoritySince === null || s.fenced) return { action: 'none' };
  if (s.current === null || !s.instances.includes(s.current)) return { action: 'none' };
  const lostMs = s.now - s.noMajoritySince;
  if (lostMs <= f.afterMs) return { action: 'none' };
  // A master that does not answer acknowledges nothing: the proxy's requests fail already, fencing adds nothing.
  const r = s.roles[s.current];
  if (r === undefined || 'error' in r || r.role !== 'master') return { action: 'none' };
  const c = confirmedMaster(s.current, s.instances, s.roles);
  if (c.ok) return { action: 'none' };
  return { action: 'fence', from: s.current, noMajorityMs: lostMs, why: c.why };
}

/**
 * A pass that sees the sentinels' majority lifts a fence, enabled or not (a fence left by an earlier agent
 * process, or by a setting since turned off, must not outlast the split either): when the majority names the
 * master the proxy is on, it is unfenced there; when it names another one, the switch to it unfences it.
 */
export function unfenceOnMajority(fenced: boolean, d: ShardDecision): FenceDecision {
  if (!fenced) return { action: 'none' };
  if (d.action === 'none') return { action: 'unfence', to: d.addr, why: `the sentinels' majority names ${d.addr}` };
  if (d.action === 'switch') return { action: 'unfence', to: d.to, why: `the sentinels' majority names ${d.to}` };
  return { action: 'none' };
}
