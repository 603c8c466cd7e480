import type { Topology } from '../topology/index.js';
import type { RoleProbe, ShardDecision } from './analyze.js';
import type { BaseConfig, ConfigApplier } from './apply.js';
import type { EventSink } from './events.js';
import { decideFence, fenceProbes, type FenceSettings } from './fence.js';
import { probeRole } from './role-probe.js';

export interface FencePassDeps {
  topo: Topology;
  password: string | null;
  events: EventSink;
  applier: ConfigApplier;
  /** A failed apply, reported and backed off like any other. */
  applyFailed(stage: string, error: Error, switches: Record<string, string>): void;
}

/**
 * The agent's side of fencing (the rule itself is fence.ts): how long each shard has gone without a sentinel
 * majority, which shards this agent fenced and from where, and the apply that fences or unfences them.
 */
export class FencePass {
  readonly settings: FenceSettings;
  /**
   * Per shard, while passes see no majority of sentinels: when a majority was last seen (the start of the last
   * pass that had one, or the agent's start). As Sentinel's down-after counts from the last valid reply.
   */
  private readonly noMajoritySince = new Map<string, number>();
  private readonly majoritySeenAt = new Map<string, number>();
  private startedAt = Date.now();
  private refused = false;
  /** Per fenced shard: the address it was fenced from. */
  private readonly fencedFrom = new Map<string, string>();

  constructor(private readonly d: FencePassDeps) {
    const f = d.topo.agent.fence;
    this.settings = { enabled: f.enabled, afterMs: f.afterMs || d.topo.sentinel.downAfterMilliseconds, address: f.address };
  }

  /** The agent started: a shard that never had a majority counts from here. */
  started(): void {
    this.startedAt = Date.now();
  }

  /** Records which shards a pass (observed at `observedAt`) saw with and without a majority. */
  observed(decisions: ShardDecision[], observedAt: number): void {
    for (const d of decisions) {
      if (d.action === 'hold' && d.reason === 'no-majority') {
        if (!this.noMajoritySince.has(d.shard)) this.noMajoritySince.set(d.shard, this.majoritySeenAt.get(d.shard) ?? this.startedAt);
      } else {
        this.noMajoritySince.delete(d.shard);
        this.majoritySeenAt.set(d.shard, observedAt);
      }
    }
  }

  /**
   * Fences (or unfences) shards while the sentinels' majority is missing. Returns null when it did nothing, else
   * whether to pass again soon. While the majority is missing and a shard is not fenced yet, passes follow each
   * other closely so the fence comes soon after afterMs, not up to an interval later.
   */
  async run(base: BaseConfig): Promise<boolean | null> {
    const { topo, events, applier } = this.d;
    const f = this.settings;
    // haproxy mode fences through HAProxy's runtime API (i14's fenceShard); not wired here yet: no fencing there.
    if (!f.enabled || this.noMajoritySince.size === 0 || topo.agent.apply === 'haproxy') return null;
    // A fence address that is an instance of the deployment would send a shard's keys to a live server.
    if (topo.shards.some((s) => s.instances.includes(f.address)) || f.address === topo.proxy.listen) {
      if (!this.refused) events.human(`agent.fence.address ${f.address} is an address of this deployment; not fencing (choose an address that refuses connections)`);
      this.refused = true;
      return null;
    }
    const shards = topo.shards.filter((s) => this.noMajoritySince.has(s.name));
    const wanted = [...new Set(shards.flatMap((s) => fenceProbes(s)))];
    const roles = new Map<string, RoleProbe>();
    await Promise.all(wanted.map(async (a) => roles.set(a, await probeRole(a, this.d.password, 300))));
    const changes: Record<string, string> = {};
    const why: Record<string, { event: 'fence' | 'unfence'; detail: Record<string, unknown> }> = {};
    for (const s of shards) {
      const d = decideFence(f, {
        shard: s.name,
        instances: s.instances,
        current: base.servers[s.name] ?? null,
        noMajoritySince: this.noMajoritySince.get(s.name) ?? null,
        fencedFrom: this.fencedFrom.get(s.name) ?? null,
        roles: Object.fromEntries(s.instances.map((i) => [i, roles.get(i)!])),
        now: Date.now(),
      });
      if (d.action === 'fence') {
        changes[s.name] = f.address;
        why[s.name] = { event: 'fence', detail: { shard: s.name, from: d.from, to: f.address, noMajorityMs: d.noMajorityMs, why: d.why } };
      } else if (d.action === 'unfence') {
        changes[s.name] = d.to;
        why[s.name] = { event: 'unfence', detail: { shard: s.name, to: d.to, why: d.why } };
      }
    }
    const unfencedPending = shards.some((s) => base.servers[s.name] !== f.address);
    if (Object.keys(changes).length === 0) return unfencedPending;
    const r = await applier.apply((b) => {
      // Under the lock: only shards still where this pass saw them.
      const still = Object.fromEntries(Object.entries(changes).filter(([shard]) => b.servers[shard] === base.servers[shard]));
      return Object.keys(still).length > 0 ? applier.edit(b, still) : null;
    });
    if (!r.ok) {
      this.d.applyFailed(r.stage, r.error, changes);
      return true;
    }
    for (const [shard, w] of Object.entries(why)) {
      events.emit(w.event, w.detail);
      if (w.event === 'fence') {
        this.fencedFrom.set(shard, String(w.detail.from));
        events.human(`shard ${shard}: fenced (proxy server line -> ${f.address}): no sentinel majority for ${String(w.detail.noMajorityMs)} ms and ${String(w.detail.why)}`);
      } else {
        this.fencedFrom.delete(shard);
        events.human(`shard ${shard}: unfenced, proxy back on ${String(w.detail.to)}: ${String(w.detail.why)}`);
      }
    }
    return true;
  }

  /** Another path (the majority's switch) moved shards: those that were on the fence address are unfenced by it. */
  applied(changes: Array<{ shard: string; from: string | null; to: string }>): void {
    for (const c of changes) {
      if (c.from !== this.settings.address) continue;
      this.fencedFrom.delete(c.shard);
      this.d.events.emit('unfence', { shard: c.shard, to: c.to, why: `the sentinels' majority names ${c.to}` });
      this.d.events.human(`shard ${c.shard}: unfenced, proxy on ${c.to}, the sentinels' majority's master`);
    }
  }
}
