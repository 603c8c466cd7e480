import { haproxyServerRef } from '../render/index.js';
import type { Topology } from '../topology/index.js';
import type { RoleProbe, ShardDecision } from './analyze.js';
import type { BaseConfig, ConfigApplier } from './apply.js';
import type { EventSink } from './events.js';
import { decideFence, fenceProbes, unfenceOnMajority, type FenceDecision, type FenceSettings } from './fence.js';
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
 * majority, and the apply that fences or unfences shards.
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
  /** Modes other than haproxy: the master each shard this agent fenced was fenced from (HAProxy keeps it itself). */
  private readonly from = new Map<string, string>();
  /** Mode haproxy: the shards the last pass found fenced (HAProxy's maintenance state), for applied(). */
  private fencedSeen = new Set<string>();

  constructor(private readonly d: FencePassDeps) {
    const f = d.topo.agent.fence;
    this.settings = { enabled: f.enabled, afterMs: f.afterMs || d.topo.sentinel.downAfterMilliseconds, address: f.address };
  }

  /** The master `shard` was fenced from by this agent, or null (not fenced by it, or mode haproxy). */
  fencedFrom(shard: string): string | null {
    return this.from.get(shard) ?? null;
  }

  /** The agent started: a shard that never had a majority counts from here. */
  started(): void {
    this.startedAt = Date.now();
  }

  private get haproxyMode(): boolean {
    return this.d.topo.agent.apply === 'haproxy';
  }

  /** Records which shards a pass (observed at `observedAt`) saw with and without a majority, and which were fenced. */
  observed(decisions: ShardDecision[], observedAt: number, fenced: string[] = []): void {
    this.fencedSeen = new Set(fenced);
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
   * Fences shards while the sentinels' majority is missing, and lifts a fence the majority's return finds still on
   * (mode haproxy, where a fence keeps the master's address: fence.ts, unfenceOnMajority). Returns
   * null when it did nothing, else whether to pass again soon. While the majority is missing and a shard is not
   * fenced yet, passes follow each other closely so the fence comes soon after afterMs, not up to an interval later.
   */
  async run(base: BaseConfig, decisions: ShardDecision[] = []): Promise<boolean | null> {
    const { topo, events, applier } = this.d;
    const f = this.settings;
    const haproxy = this.haproxyMode;
    const todo = new Map<string, FenceDecision>();
    for (const d of decisions) {
      const u = unfenceOnMajority(base.fenced.includes(d.shard), d);
      if (u.action !== 'none') todo.set(d.shard, u);
    }
    let shards = f.enabled ? topo.shards.filter((s) => this.noMajoritySince.has(s.name)) : [];
    // A fence address that is an instance of the deployment would send a shard's keys to a live server (mode
    // haproxy fences by HAProxy's maintenance state, not by an address).
    if (shards.length > 0 && !haproxy && (topo.shards.some((s) => s.instances.includes(f.address)) || f.address === topo.proxy.listen)) {
      if (!this.refused) events.human(`agent.fence.address ${f.address} is an address of this deployment; not fencing (choose an address that refuses connections)`);
      this.refused = true;
      shards = [];
    }
    if (todo.size === 0 && shards.length === 0) return null;
    // A fenced shard stays fenced while the majority is missing (fence.ts): only the others need their ROLEs.
    const wanted = [...new Set(shards.filter((s) => !base.fenced.includes(s.name)).flatMap((s) => fenceProbes(s)))];
    const roles = new Map<string, RoleProbe>();
    await Promise.all(wanted.map(async (a) => roles.set(a, await probeRole(a, this.d.password, 300))));
    for (const s of shards) {
      const fenced = base.fenced.includes(s.name);
      const current = base.servers[s.name] ?? null;
      const d = decideFence(f, {
        shard: s.name,
        instances: s.instances,
        current,
        fenced,
        noMajoritySince: this.noMajoritySince.get(s.name) ?? null,
        roles: Object.fromEntries(s.instances.map((i) => [i, roles.get(i)!])),
        now: Date.now(),
      });
      if (d.action !== 'none') todo.set(s.name, d);
    }
    const changes: Record<string, string> = {};
    const flags: Record<string, boolean> = {};
    const why: Record<string, { event: 'fence' | 'unfence'; detail: Record<string, unknown> }> = {};
    const fenceTo = (shard: string) => (haproxy ? `maintenance (haproxy ${haproxyServerRef(shard)})` : f.address);
    for (const [shard, d] of todo) {
      if (d.action === 'fence') {
        if (haproxy) flags[shard] = true;
        else changes[shard] = f.address;
        why[shard] = { event: 'fence', detail: { shard, from: d.from, to: fenceTo(shard), noMajorityMs: d.noMajorityMs, why: d.why } };
      } else if (d.action === 'unfence') {
        if (haproxy) flags[shard] = false;
        changes[shard] = d.to;
        why[shard] = { event: 'unfence', detail: { shard, to: d.to, why: d.why } };
      }
    }
    const unfencedPending = shards.some((s) => !base.fenced.includes(s.name));
    if (Object.keys(why).length === 0) return unfencedPending;
    const r = await applier.apply((b) => {
      // Under the lock: only shards still where this pass saw them.
      const still = (shard: string) => b.servers[shard] === base.servers[shard] && b.fenced.includes(shard) === base.fenced.includes(shard);
      const c = Object.fromEntries(Object.entries(changes).filter(([shard]) => still(shard)));
      const fl = Object.fromEntries(Object.entries(flags).filter(([shard]) => still(shard)));
      return Object.keys(c).length + Object.keys(fl).length > 0 ? applier.edit(b, c, fl) : null;
    });
    if (!r.ok) {
      this.d.applyFailed(r.stage, r.error, changes);
      return true;
    }
    for (const [shard, w] of Object.entries(why)) {
      events.emit(w.event, w.detail);
      if (w.event === 'fence') {
        if (!haproxy) this.from.set(shard, String(w.detail.from));
        events.human(`shard ${shard}: fenced (proxy -> ${String(w.detail.to)}): no sentinel majority for ${String(w.detail.noMajorityMs)} ms and ${String(w.detail.why)}`);
      } else {
        this.from.delete(shard);
        events.human(`shard ${shard}: unfenced, proxy back on ${String(w.detail.to)}: ${String(w.detail.why)}`);
      }
    }
    return true;
  }

  /**
   * Another path moved shards. The majority's switch unfences: by replacing the fence address, or in mode haproxy
   * with the switch itself. The fast path's early switch moves a fenced shard's address but keeps the fence.
   */
  applied(changes: Array<{ shard: string; from: string | null; to: string }>, path = 'majority'): void {
    for (const c of changes) {
      const wasFenced = this.haproxyMode ? path === 'majority' && this.fencedSeen.has(c.shard) : c.from === this.settings.address;
      if (!wasFenced) continue;
      this.from.delete(c.shard);
      this.d.events.emit('unfence', { shard: c.shard, to: c.to, why: `the sentinels' majority names ${c.to}` });
      this.d.events.human(`shard ${c.shard}: unfenced, proxy on ${c.to}, the sentinels' majority's master`);
    }
  }
}
