import { readFileSync, writeFileSync } from 'node:fs';
import { ourPid, startHaproxy, tuneSentinel, UNDER_SYSTEMD_ENV } from '../runtime/index.js';
import { repointReplicas } from './replica-repoint.js';
import { agentPaths, haproxyPaths, proxyPaths, type Topology } from '../topology/index.js';
import { addressesToProbe, analyze, type Analysis, type RoleProbe, type SentinelAnswer, type ShardInput } from './analyze.js';
import { ConfigApplier, sha256, type ApplyResult, type BaseConfig } from './apply.js';
import { fileEventSink, type EventSink } from './events.js';
import { FastPath } from './fast-path.js';
import { NutcrackerFileGuard } from './nutcracker-guard.js';
import { decideFence, fenceProbes, type FenceSettings } from './fence.js';
import { ProxySupervisor } from './proxy.js';
import { APPLY_RETRY, SENTINEL_RECONNECT, type RetryPolicy } from './retry.js';
import { probeRole } from './role-probe.js';
import { SentinelLink } from './sentinel-links.js';
import { parseSentinelEvent } from '../engine/index.js';
import { FailoverTimelines } from './timeline.js';

export interface AgentOptions {
  password: string | null;
  events?: EventSink;
  /** The early switch on +selected-slave (fast-path.ts). Default on. */
  fastPath?: boolean;
  /** Delay before the next pass while a shard is mid-change. */
  soonMs?: number;
  applyRetry?: RetryPolicy;
  sentinelRetry?: RetryPolicy;
}

/** Event types that are logged as their own events (the rest are triggers only). */
const LOGGED = new Set([
  '+sdown', '-sdown', '+odown', '-odown', '+try-failover', '+elected-leader', '+selected-slave', '+promoted-slave',
  '+failover-end', '+convert-to-slave', '+tilt', '-tilt', '+reboot', '+failover-end-for-timeout',
]);

/**
 * The reconciler: observe (every sentinel: GET-MASTER-ADDR-BY-NAME + SENTINEL MASTER; ROLE of candidates) ->
 * analyze (pure, analyze.ts) -> apply (apply.ts). Passes run on start, on every sentinel (re)connect, on every
 * sentinel event, and every agent.reconcileIntervalMs; a trigger during a pass sets "run again" instead of
 * starting a second one. Nothing a peer does makes it exit: every failure becomes an event and a later pass.
 */
export class Agent {
  private readonly events: EventSink;
  private readonly links: SentinelLink[];
  private readonly applier: ConfigApplier;
  private readonly proxy: ProxySupervisor | null;
  private readonly fast: FastPath | null;
  private readonly timelines: FailoverTimelines;
  private readonly nutGuard: NutcrackerFileGuard;
  /**
   * Early switches not yet confirmed by the majority, each tied to the config it wrote: `seq` orders it against
   * the passes' reads, so only a pass that read the config after the switch may clear it.
   */
  private readonly fastSwitch = new Map<string, { to: string; from: string; seq: number }>();
  private fastSwitchSeq = 0;
  /** Settles when the reconcile loop in flight (if any) ends: stop() waits for it. */
  private passDone: Promise<void> = Promise.resolve();
  private readonly lastHold = new Map<string, string>();
  private lastProblem: string | null = null;
  private readonly garbage = new Map<string, { at: number; suppressed: number }>();
  private running = false;
  private rerun = false;
  private stopped = false;
  private warm = false;
  private soonStreak = 0;
  private timer: NodeJS.Timeout | null = null;
  private watchTimer: NodeJS.Timeout | null = null;
  private applyFailures = 0;
  private applyNotBefore = 0;
  private passes = 0;
  private readonly fenceSettings: FenceSettings;
  /**
   * Per shard, while passes see no majority of sentinels: when a majority was last seen (the start of the last
   * pass that had one, or the agent's start). As Sentinel's down-after counts from the last valid reply.
   */
  private readonly noMajoritySince = new Map<string, number>();
  private readonly majoritySeenAt = new Map<string, number>();
  private startedAt = Date.now();
  private fenceRefused = false;
  /** Per fenced shard: the address it was fenced from. */
  private readonly fencedFrom = new Map<string, string>();
  private firstPass: { promise: Promise<void>; resolve: () => void };

  constructor(
    private readonly topo: Topology,
    private readonly opts: AgentOptions,
  ) {
    this.events = opts.events ?? fileEventSink(agentPaths(topo.stateDir).events);
    // Mode haproxy never restarts nutcracker to apply anything, but keeps it (and HAProxy) running.
    this.proxy = topo.agent.apply === 'supervise' || (topo.agent.apply === 'haproxy' && !underSystemd()) ? new ProxySupervisor(topo) : null;
    this.applier = new ConfigApplier(topo, opts.password, this.proxy);
    this.nutGuard = new NutcrackerFileGuard(topo, opts.password);
    this.timelines = new FailoverTimelines(this.events);
    const f = topo.agent.fence;
    this.fenceSettings = { enabled: f.enabled, afterMs: f.afterMs || topo.sentinel.downAfterMilliseconds, address: f.address };
    const handlers = {
      onMessage: (s: string, ch: string, msg: string) => this.onSentinelMessage(s, ch, msg),
      onConnected: (s: string) => {
        this.events.emit('sentinel-connected', { sentinel: s });
        // Sentinel keeps these periods in memory only: a restarted sentinel gets them back here.
        void tuneSentinel(s, opts.password, topo).then((problem) => {
          if (problem) this.events.emit('sentinel-tuning-failed', { sentinel: s, error: problem });
        });
        this.trigger(`connected ${s}`);
      },
      onLost: (s: string, error: string) => {
        this.events.emit('sentinel-lost', { sentinel: s, error });
        this.trigger(`lost ${s}`);
      },
    };
    this.links = topo.sentinel.instances.map((a) => new SentinelLink(a, opts.password, handlers, opts.sentinelRetry ?? SENTINEL_RECONNECT));
    this.fast =
      opts.fastPath === false
        ? null
        : new FastPath({
            password: opts.password,
            events: this.events,
            proxyPointsAt: async (shard, from) => (await this.applier.readBase()).servers[shard] === from,
            prepare: (shard, to) => void this.prepare(shard, to),
            switchTo: (shard, from, to, at) => this.fastSwitchTo(shard, from, to, at),
          });
    let resolve!: () => void;
    this.firstPass = { promise: new Promise<void>((r) => (resolve = r)), resolve };
  }

  /** Reconcile passes run so far. */
  get passCount(): number {
    return this.passes;
  }

  /** Resolves after the first reconcile pass has run (whatever it decided). */
  get ready(): Promise<void> {
    return this.firstPass.promise;
  }

  start(): void {
    this.startedAt = Date.now();
    this.events.emit('agent-started', { pid: process.pid, mode: this.topo.agent.apply, sentinels: this.topo.sentinel.instances, fastPath: this.fast !== null });
    this.events.human(`agent started (pid ${process.pid}, apply mode ${this.topo.agent.apply}, ${this.links.length} sentinels)`);
    for (const l of this.links) l.start();
    if (this.proxy) {
      // A supervised nutcracker that dies is restarted by the next pass; this notices it within 100 ms.
      this.watchTimer = setInterval(() => {
        if (this.running) return;
        if (this.proxy!.current() === null) this.trigger('proxy gone');
        else if (this.haproxyMode && ourPid(haproxyPaths(this.topo.stateDir).pid, this.topo.stateDir) === null) this.trigger('haproxy gone');
      }, 100);
    }
    // The first pass waits (at most 500 ms) for a majority of subscriptions, so it does not report
    // "no majority" just because the connections are still being made.
    const need = Math.floor(this.links.length / 2) + 1;
    const startedAt = Date.now();
    const warm = () => {
      if (this.stopped) return;
      if (this.links.filter((l) => l.connected).length >= need || Date.now() - startedAt > 500) {
        this.warm = true;
        this.trigger('start');
      } else setTimeout(warm, 10);
    };
    warm();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.watchTimer) clearInterval(this.watchTimer);
    this.fast?.stopAll();
    // The pass in flight and an apply in flight finish first: a nutcracker must not be left stopped half-way
    // through a restart, nor a pass write after the agent said it stopped. Bounded, and the bound's timer is
    // cleared so nothing of the agent outlives stop().
    let bound: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([this.passDone, this.applier.idle()]),
      new Promise((r) => {
        bound = setTimeout(r, 5000);
      }),
    ]);
    clearTimeout(bound);
    for (const l of this.links) l.close();
    this.timelines.flush();
    this.events.emit('agent-stopped', { pid: process.pid, passes: this.passes });
  }

  /** The pass count, for operators (is it still reconciling?) and tests (wait N passes, not a fixed time). */
  private notePass(): void {
    try {
      writeFileSync(agentPaths(this.topo.stateDir).passes, `${this.passes}\n`);
    } catch {
      /* a full disk must not stop reconciling */
    }
  }

  /** Runs a reconcile now, or right after the one in progress. */
  trigger(_reason: string): void {
    if (this.stopped || !this.warm) return;
    if (this.running) {
      this.rerun = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.loop(), 0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.loop(), ms);
  }

  private async loop(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    let passEnded!: () => void;
    this.passDone = new Promise((r) => (passEnded = r));
    let soon = false;
    try {
      do {
        this.rerun = false;
        try {
          soon = await this.pass();
        } catch (e) {
          this.events.emit('reconcile-error', { error: (e as Error).message });
          soon = true;
        }
        this.passes++;
        if (this.passes === 1) this.firstPass.resolve();
        this.notePass();
      } while (this.rerun && !this.stopped);
    } finally {
      this.running = false;
      passEnded();
    }
    // Quick re-checks while a shard is mid-change, but not forever: a hold that outlasts ~2 s (a master the
    // sentinels name but that stays down) falls back to the normal interval.
    this.soonStreak = soon ? this.soonStreak + 1 : 0;
    const quick = soon && this.soonStreak <= 40;
    const wait = Math.max(quick ? (this.opts.soonMs ?? 50) : this.topo.agent.reconcileIntervalMs, this.applyNotBefore - Date.now());
    this.schedule(Math.min(wait, this.topo.agent.reconcileIntervalMs));
  }

  private get haproxyMode(): boolean {
    return this.topo.agent.apply === 'haproxy';
  }

  /** One observe -> analyze -> apply pass. Returns whether another pass should follow soon. */
  private async pass(): Promise<boolean> {
    // First, so a failing apply (HAProxy not answering) cannot keep HAProxy from being brought back.
    if (this.haproxyMode) await this.superviseHaproxyMode();
    // Taken before the read: a guard with a higher seq was set after this pass's config was read.
    const seenSeq = this.fastSwitchSeq;
    const base = await this.applier.readBase();
    if (base.problem !== this.lastProblem) {
      if (base.problem) {
        this.events.emit('config-invalid', { path: base.path, error: base.problem });
        this.events.human(`proxy config problem: ${base.problem}`);
      } else if (this.lastProblem) {
        this.events.emit('config-valid', { path: base.path });
      }
      this.lastProblem = base.problem;
    }
    const observedAt = Date.now();
    const input = await this.observe(base);
    const analysis = analyze(input);
    this.report(analysis);
    for (const d of analysis.decisions) {
      // An early switch stays "pending" only while the majority path is still holding with the proxy on it:
      // once the majority agrees (none) or overrides it (switch), or someone moved the proxy, it is settled.
      const fs = this.fastSwitch.get(d.shard);
      if (fs && fs.seq <= seenSeq && (d.action !== 'hold' || base.servers[d.shard] !== fs.to)) this.fastSwitch.delete(d.shard);
    }
    for (const d of analysis.decisions) {
      if (d.action === 'hold' && d.reason === 'no-majority') {
        if (!this.noMajoritySince.has(d.shard)) this.noMajoritySince.set(d.shard, this.majoritySeenAt.get(d.shard) ?? this.startedAt);
      } else {
        this.noMajoritySince.delete(d.shard);
        this.majoritySeenAt.set(d.shard, observedAt);
      }
    }
    if (Date.now() < this.applyNotBefore) return true;
    if (Object.keys(analysis.switches).length > 0) {
      for (const [shard, to] of Object.entries(analysis.switches)) this.timelines.deciding(shard, base.servers[shard] ?? null, to, 'majority');
      // Edited from the config as it is under the lock: an early switch of another shard made meanwhile stays.
      const r = await this.applier.apply((b) => this.applier.edit(b, analysis.switches), { force: base.problem !== null });
      this.afterApply(r, analysis.switches, 'majority', base.servers);
      return analysis.rerunSoon || !r.ok;
    }
    const fence = await this.fencePass(base);
    if (fence !== null) return fence;
    if (this.proxy && !this.haproxyMode) await this.superviseProxy(base);
    if (this.applier.needsActivation(base)) {
      // exec mode: the file is right but its command has not succeeded on it yet (failed, or we died in between).
      const r = await this.applier.apply((b) => b.text, { force: true });
      this.afterApply(r, {}, 'activate', base.servers);
      return !r.ok || analysis.rerunSoon;
    }
    return analysis.rerunSoon;
  }

  /**
   * Fences (or unfences) shards while the sentinels' majority is missing (fence.ts). Returns null when it did
   * nothing, else whether to pass again soon. While the majority is missing and a shard is not fenced yet,
   * passes follow each other closely so the fence comes soon after afterMs, not up to an interval later.
   */
  private async fencePass(base: BaseConfig): Promise<boolean | null> {
    const f = this.fenceSettings;
    // haproxy mode fences through HAProxy's runtime API (i14's fenceShard); not wired here yet: no fencing there.
    if (!f.enabled || this.noMajoritySince.size === 0 || this.haproxyMode) return null;
    // A fence address that is an instance of the deployment would send a shard's keys to a live server.
    if (this.topo.shards.some((s) => s.instances.includes(f.address)) || f.address === this.topo.proxy.listen) {
      if (!this.fenceRefused) this.events.human(`agent.fence.address ${f.address} is an address of this deployment; not fencing (choose an address that refuses connections)`);
      this.fenceRefused = true;
      return null;
    }
    const shards = this.topo.shards.filter((s) => this.noMajoritySince.has(s.name));
    const wanted = [...new Set(shards.flatMap((s) => fenceProbes(s)))];
    const roles = new Map<string, RoleProbe>();
    await Promise.all(wanted.map(async (a) => roles.set(a, await probeRole(a, this.opts.password, 300))));
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
    const r = await this.applier.apply((b) => {
      // Under the lock: only shards still where this pass saw them.
      const still = Object.fromEntries(Object.entries(changes).filter(([shard]) => b.servers[shard] === base.servers[shard]));
      return Object.keys(still).length > 0 ? this.applier.edit(b, still) : null;
    });
    if (!r.ok) {
      this.applyFailed(r.stage, r.error, changes);
      return true;
    }
    for (const [shard, w] of Object.entries(why)) {
      this.events.emit(w.event, w.detail);
      if (w.event === 'fence') {
        this.fencedFrom.set(shard, String(w.detail.from));
        this.events.human(`shard ${shard}: fenced (proxy server line -> ${f.address}): no sentinel majority for ${String(w.detail.noMajorityMs)} ms and ${String(w.detail.why)}`);
      } else {
        this.fencedFrom.delete(shard);
        this.events.human(`shard ${shard}: unfenced, proxy back on ${String(w.detail.to)}: ${String(w.detail.why)}`);
      }
    }
    return true;
  }

  private async observe(base: BaseConfig): Promise<{ sentinelCount: number; shards: ShardInput[] }> {
    const names = this.topo.shards.map((s) => s.name);
    const perSentinel = await Promise.all(this.links.map((l) => l.query(names)));
    const shards: ShardInput[] = this.topo.shards.map((s) => ({
      shard: s.name,
      instances: s.instances,
      current: base.servers[s.name] ?? null,
      answers: perSentinel.map((m, i) => m.get(s.name) ?? ({ sentinel: this.links[i]!.addr, ok: false, error: 'no answer' } as SentinelAnswer)),
      roles: {},
      fastSwitch: this.fastSwitch.get(s.name) ?? null,
    }));
    const wanted = [...new Set(shards.flatMap((s) => addressesToProbe(s)))];
    const roles = new Map<string, RoleProbe>();
    await Promise.all(wanted.map(async (a) => roles.set(a, await probeRole(a, this.opts.password, 300))));
    for (const s of shards) for (const a of addressesToProbe(s)) s.roles[a] = roles.get(a)!;
    return { sentinelCount: this.links.length, shards };
  }

  /** Logs a shard's hold once when it starts (or its reason changes), and once when it clears. */
  private report(a: Analysis): void {
    for (const d of a.decisions) {
      const key = d.action === 'hold' ? `${d.reason}` : '';
      const prev = this.lastHold.get(d.shard) ?? '';
      if (key === prev) continue;
      this.lastHold.set(d.shard, key);
      if (d.action === 'hold') {
        this.events.emit('reconcile-hold', { shard: d.shard, reason: d.reason, detail: d.detail });
        if (d.reason === 'no-majority' || d.reason === 'not-an-instance' || d.reason === 'target-not-master' || d.reason === 'epoch-conflict') {
          this.events.human(`shard ${d.shard}: not changing the proxy: ${d.detail}`);
        }
      } else if (prev !== '') {
        this.events.emit('reconcile-clear', { shard: d.shard, was: prev });
      }
    }
  }

  /** Supervise mode, nothing to switch: nutcracker must be running, on the config file as it is now. */
  private async superviseProxy(base: BaseConfig): Promise<void> {
    const pid = this.proxy!.current();
    let why: string | null = null;
    if (pid === null) why = 'not running';
    else if (base.problem === null && !this.proxy!.runsConfig(pid, base.sha, base.path)) why = 'running an older config than the file';
    if (why === null) return;
    this.events.emit(pid === null ? 'proxy-down' : 'proxy-stale', { pid, why });
    // Decided again under the apply lock: an apply that finished meanwhile (a fast switch, notify) may already
    // have started the nutcracker this one would otherwise restart a second time.
    const r = await this.applier.apply(
      (b) => {
        const now = this.proxy!.current();
        const settled = now !== null && (b.problem !== null || this.proxy!.runsConfig(now, b.sha, b.path));
        return settled ? null : b.text;
      },
      { force: true },
    );
    if (r.ok && !r.changed && r.restart === null) return;
    this.afterApply(r, {}, 'supervise', base.servers);
  }

  /**
   * Mode haproxy: HAProxy and nutcracker must be running. HAProxy is started on its file, which holds the
   * masters last applied (every switch writes it before the runtime API call; runtime changes are lost with
   * the process); the pass that follows reconciles it with the sentinels. nutcracker's file never changes
   * in this mode, so it is only started when it is gone.
   */
  private async superviseHaproxyMode(): Promise<void> {
    // Under systemd, its units restart HAProxy and nutcracker; the passes re-apply the masters once it is back.
    if (this.proxy === null) return;
    const hPid = () => ourPid(haproxyPaths(this.topo.stateDir).pid, this.topo.stateDir);
    if (hPid() === null) {
      this.events.emit('haproxy-down', {});
      try {
        const r = await this.applier.exclusive(async () => {
          if (hPid() !== null) return null;
          const base = await this.applier.readBase();
          return await startHaproxy(this.topo, base.problem === null ? null : base.text);
        });
        if (r) {
          this.events.emit('haproxy-restarted', r);
          this.events.human(`haproxy was not running; started it again (pid ${r.pid}) on ${JSON.stringify(r.servers)}`);
        }
      } catch (e) {
        this.events.emit('haproxy-start-failed', { error: (e as Error).message });
        this.events.human(`cannot start haproxy: ${(e as Error).message}`);
      }
    }
    await this.nutGuard.prime();
    if (this.proxy!.current() === null) {
      this.events.emit('proxy-down', { pid: null, why: 'not running' });
      try {
        const r = await this.applier.exclusive(async () => {
          if (this.proxy!.current() !== null) return null;
          const conf = proxyPaths(this.topo.stateDir).conf;
          const wrong = await this.nutGuard.ensureUsable();
          if (wrong !== null) {
            this.events.emit('config-invalid', { path: conf, error: `${conf}: ${wrong}; restored the last good config (the rejected one is ${conf}.rejected)` });
            this.events.human(`${conf}: ${wrong}; restored the last good config before starting nutcracker`);
          }
          return await this.proxy!.restart(sha256(readFileSync(conf, 'utf8')));
        });
        if (r) this.events.emit('proxy-restarted', { ...r });
      } catch (e) {
        this.events.emit('proxy-start-failed', { error: (e as Error).message });
        this.events.human(`cannot start nutcracker: ${(e as Error).message}`);
      }
    }
  }

  private afterApply(r: ApplyResult, switches: Record<string, string>, path: 'majority' | 'fast' | 'supervise' | 'activate', before: Record<string, string>): void {
    if (!r.ok) return this.applyFailed(r.stage, r.error, switches);
    this.applyFailures = 0;
    this.applyNotBefore = 0;
    const changes = Object.entries(switches).map(([shard, to]) => ({ shard, from: before[shard] ?? null, to }));
    this.events.emit('config-applied', {
      path,
      file: r.path,
      mode: this.topo.agent.apply,
      changed: r.changed,
      changes,
      restart: r.restart,
      steps: r.steps,
    });
    for (const c of changes) this.timelines.applied(c.shard, c.to, r.writtenAtMs, r.servingAtMs, path);
    for (const c of changes) {
      if (c.from !== this.fenceSettings.address) continue;
      this.fencedFrom.delete(c.shard);
      this.events.emit('unfence', { shard: c.shard, to: c.to, why: `the sentinels' majority names ${c.to}` });
      this.events.human(`shard ${c.shard}: unfenced, proxy on ${c.to}, the sentinels' majority's master`);
    }
    if (changes.length > 0) this.events.human(`proxy now sends ${changes.map((c) => `${c.shard} to ${c.to}`).join(', ')} (${path} path)`);
  }

  private applyFailed(stage: string, error: Error, switches: Record<string, string>): void {
    this.applyFailures++;
    const d = (this.opts.applyRetry ?? APPLY_RETRY)(this.applyFailures, error);
    const delay = d === 'stop' ? this.topo.agent.reconcileIntervalMs : d;
    this.applyNotBefore = Date.now() + delay;
    this.events.emit('apply-failed', { stage, error: error.message, switches, attempt: this.applyFailures, retryInMs: delay });
    this.events.human(`apply failed (${stage}): ${error.message}; retrying in ${delay} ms`);
  }

  /** Checks, ahead of time, the config that would point `shard` at `to`. */
  private async prepare(shard: string, to: string): Promise<void> {
    // Mode haproxy checks nothing on the switch's path: nothing to prepare (and no `haproxy -c` to burn CPU
    // on while Sentinel is promoting).
    if (this.haproxyMode) return;
    try {
      const base = await this.applier.readBase();
      await this.applier.check(this.applier.edit(base, { [shard]: to }));
    } catch {
      /* the real apply reports it */
    }
  }

  private async fastSwitchTo(shard: string, from: string, to: string, promotedAtMs: number): Promise<void> {
    const shardSpec = this.topo.shards.find((s) => s.name === shard);
    if (!shardSpec?.instances.includes(to)) return;
    this.timelines.promoted(shard, from, to, promotedAtMs);
    this.timelines.deciding(shard, from, to, 'fast');
    // Runs beside the proxy restart, not before it: neither waits for the other.
    const repointed = this.topo.agent.repointReplicas
      ? repointReplicas(this.topo, this.opts.password, shard, from, to, this.events)
      : Promise.resolve();
    let before: Record<string, string> = {};
    // Decided under the lock, on the config as it is then: if anything moved the shard meanwhile, do nothing.
    const r = await this.applier.apply((b) => {
      before = b.servers;
      return b.servers[shard] === from ? this.applier.edit(b, { [shard]: to }) : null;
    });
    if (r.ok && r.changed) this.fastSwitch.set(shard, { from, to, seq: ++this.fastSwitchSeq });
    if (!r.ok || r.changed) this.afterApply(r, { [shard]: to }, 'fast', before);
    await repointed;
    if (r.ok && !r.changed) return;
    this.trigger('fast switch');
  }

  private onSentinelMessage(sentinel: string, channel: string, message: string): void {
    const ev = parseSentinelEvent(channel, message);
    const known = (shard: string) => this.topo.shards.find((s) => s.name === shard);
    switch (ev.kind) {
      case 'garbage': {
        // At most one garbage event per sentinel per second, with a count of those not logged.
        const g = this.garbage.get(sentinel) ?? { at: 0, suppressed: 0 };
        if (Date.now() - g.at >= 1000) {
          this.events.emit('sentinel-garbage', { sentinel, type: ev.type, text: ev.text, why: ev.why, suppressed: g.suppressed });
          this.garbage.set(sentinel, { at: Date.now(), suppressed: 0 });
        } else {
          g.suppressed++;
          this.garbage.set(sentinel, g);
        }
        break;
      }
      case 'switch-master':
        this.events.emit('switch-seen', { sentinel, shard: ev.shard, from: ev.from, to: ev.to });
        if (known(ev.shard)) this.timelines.switchSeen(ev.shard, ev.from, ev.to);
        break;
      case 'instance': {
        if (!known(ev.shard)) break;
        if (LOGGED.has(ev.type) || ev.type.startsWith('-failover-abort')) {
          const name = ev.type.slice(1).replace(/^(s|o)down$/, '$1down');
          this.events.emit(name === 'sdown' || name === 'odown' ? name : 'sentinel-event', {
            sentinel,
            ...(name === 'sdown' || name === 'odown' ? { state: ev.type[0] } : { type: ev.type }),
            shard: ev.shard,
            role: ev.role,
            addr: ev.addr,
          });
        }
        if (ev.type === '+odown' && ev.role === 'master') {
          this.timelines.odown(ev.shard, ev.addr);
          // Check ahead the configs a failover could need, so the switch itself skips nutcracker -t.
          for (const i of known(ev.shard)!.instances) if (i !== ev.addr) void this.prepare(ev.shard, i);
        }
        if (ev.type === '+selected-slave' && this.fast) {
          this.timelines.selected(ev.shard, ev.masterAddr, ev.addr);
          if (known(ev.shard)!.instances.includes(ev.addr)) this.fast.selected(ev.shard, ev.masterAddr, ev.addr, this.topo.sentinel.failoverTimeout);
        }
        if (ev.type.startsWith('-failover-abort') || ev.type === '+failover-end') this.fast?.cancel(ev.shard, ev.type);
        break;
      }
      default:
        break;
    }
    this.trigger(channel);
  }
}

function underSystemd(): boolean {
  return process.env[UNDER_SYSTEMD_ENV] === '1';
}

/** Starts an agent; it runs until `stop()`. */
export function startAgent(topo: Topology, opts: AgentOptions): Agent {
  const a = new Agent(topo, opts);
  a.start();
  return a;
}
