import type { Topology } from '../topology/index.js';
import { addressesToProbe, analyze, type RoleProbe, type SentinelAnswer, type ShardInput } from './analyze.js';
import type { BaseConfig, ConfigApplier } from './apply.js';
import type { EventSink } from './events.js';
import type { FastSwitchGuard } from './fast-switch-guard.js';
import type { FencePass } from './fence-pass.js';
import type { PassReport } from './pass-report.js';
import type { ProxyUpkeep } from './proxy-upkeep.js';
import { repointReplicas } from './replica-repoint.js';
import { probeRole } from './role-probe.js';
import type { SentinelLink } from './sentinel-links.js';
import type { FailoverTimelines } from './timeline.js';

export interface ReconcilePassDeps {
  topo: Topology;
  password: string | null;
  events: EventSink;
  links: SentinelLink[];
  applier: ConfigApplier;
  /** Null when the agent does not supervise the proxy's processes (staging, exec, under systemd). */
  upkeep: ProxyUpkeep | null;
  fence: FencePass;
  guard: FastSwitchGuard;
  timelines: FailoverTimelines;
  report: PassReport;
  /** Whether a failed apply's hold-off is still running. */
  holdingOff(): boolean;
  /** Asks for another pass. */
  trigger(reason: string): void;
}

/**
 * One reconcile pass: observe (every sentinel: GET-MASTER-ADDR-BY-NAME + SENTINEL MASTER; ROLE of candidates)
 * -> analyze (pure, analyze.ts) -> apply (apply.ts); then, with nothing to switch, fencing and the proxy's
 * upkeep. Also the fast path's switch, which goes through the same applier.
 */
export class ReconcilePass {
  constructor(private readonly d: ReconcilePassDeps) {}

  private get haproxyMode(): boolean {
    return this.d.topo.agent.apply === 'haproxy';
  }

  /** Returns whether another pass should follow soon. */
  async run(): Promise<boolean> {
    const { applier, report, guard, fence, upkeep, timelines } = this.d;
    // First, so a failing apply (HAProxy not answering) cannot keep HAProxy from being brought back.
    if (this.haproxyMode) await upkeep?.upkeepHaproxyMode();
    // Taken before the read: a guard with a higher seq was set after this pass's config was read.
    const seenSeq = guard.seq;
    const base = await applier.readBase();
    report.configRead(base);
    const observedAt = Date.now();
    const analysis = analyze(await this.observe(base));
    report.analysed(analysis);
    guard.settle(analysis.decisions, base.servers, seenSeq);
    fence.observed(analysis.decisions, observedAt, base.fenced);
    if (this.d.holdingOff()) return true;
    if (Object.keys(analysis.switches).length > 0) {
      for (const [shard, to] of Object.entries(analysis.switches)) timelines.deciding(shard, base.servers[shard] ?? null, to, 'majority');
      // Edited from the config as it is under the lock: an early switch of another shard made meanwhile stays.
      // Mode haproxy: the majority's switch lifts the shard's fence in the same apply (fence.ts, unfenceOnMajority).
      const unfence = this.haproxyMode ? Object.fromEntries(Object.keys(analysis.switches).map((s) => [s, false])) : {};
      const r = await applier.apply((b) => applier.edit(b, analysis.switches, unfence), { force: base.problem !== null });
      report.applied(r, analysis.switches, 'majority', base.servers);
      return analysis.rerunSoon || !r.ok;
    }
    // Before fencing, which returns early on every pass while there is no majority: a nutcracker that dies during
    // a partition is started again all the same (on its file, fenced or not; upkeep decides again under the lock).
    if (upkeep && !this.haproxyMode) await upkeep.upkeepSuperviseMode(base);
    const fenced = await fence.run(base, analysis.decisions);
    if (fenced !== null) return fenced;
    if (applier.needsActivation(base)) {
      // exec mode: the file is right but its command has not succeeded on it yet (failed, or we died in between).
      const r = await applier.apply((b) => b.text, { force: true });
      report.applied(r, {}, 'activate', base.servers);
      return !r.ok || analysis.rerunSoon;
    }
    return analysis.rerunSoon;
  }

  private async observe(base: BaseConfig): Promise<{ sentinelCount: number; shards: ShardInput[] }> {
    const { topo, links, guard, fence } = this.d;
    const names = topo.shards.map((s) => s.name);
    const perSentinel = await Promise.all(links.map((l) => l.query(names)));
    const shards: ShardInput[] = topo.shards.map((s) => ({
      shard: s.name,
      instances: s.instances,
      current: base.servers[s.name] ?? null,
      answers: perSentinel.map((m, i) => m.get(s.name) ?? ({ sentinel: links[i]!.addr, ok: false, error: 'no answer' } as SentinelAnswer)),
      roles: {},
      fastSwitch: guard.get(s.name) ?? null,
      fenced: base.fenced.includes(s.name),
      fencedFrom: this.haproxyMode ? (base.servers[s.name] ?? null) : fence.fencedFrom(s.name),
    }));
    const wanted = [...new Set(shards.flatMap((s) => addressesToProbe(s)))];
    const roles = new Map<string, RoleProbe>();
    await Promise.all(wanted.map(async (a) => roles.set(a, await probeRole(a, this.d.password, 300))));
    for (const s of shards) for (const a of addressesToProbe(s)) s.roles[a] = roles.get(a)!;
    return { sentinelCount: links.length, shards };
  }

  /** Checks, ahead of time, the config that would point `shard` at `to`. */
  async prepare(shard: string, to: string): Promise<void> {
    // Mode haproxy checks nothing on the switch's path: nothing to prepare (and no `haproxy -c` to burn CPU
    // on while Sentinel is promoting).
    if (this.haproxyMode) return;
    try {
      const base = await this.d.applier.readBase();
      await this.d.applier.check(this.d.applier.edit(base, { [shard]: to }));
    } catch {
      /* the real apply reports it */
    }
  }

  /** The fast path's switch (fast-path.ts decided it): through the one applier, then a full pass. */
  async fastSwitchTo(shard: string, from: string, to: string, promotedAtMs: number): Promise<void> {
    const { topo, applier, timelines, guard, report } = this.d;
    const shardSpec = topo.shards.find((s) => s.name === shard);
    if (!shardSpec?.instances.includes(to)) return;
    timelines.promoted(shard, from, to, promotedAtMs);
    timelines.deciding(shard, from, to, 'fast');
    // Runs beside the proxy restart, not before it: neither waits for the other.
    const repointed = topo.agent.repointReplicas ? repointReplicas(topo, this.d.password, shard, from, to, this.d.events) : Promise.resolve();
    let before: Record<string, string> = {};
    // Decided under the lock, on the config as it is then: if anything moved the shard meanwhile, do nothing.
    const r = await applier.apply((b) => {
      before = b.servers;
      return b.servers[shard] === from ? applier.edit(b, { [shard]: to }) : null;
    });
    if (r.ok && r.changed) guard.switched(shard, from, to);
    if (!r.ok || r.changed) report.applied(r, { [shard]: to }, 'fast', before);
    await repointed;
    if (r.ok && !r.changed) return;
    this.d.trigger('fast switch');
  }
}
