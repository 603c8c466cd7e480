import { writeFileSync } from 'node:fs';
import { majorityOf } from '../engine/index.js';
import { tuneSentinel, UNDER_SYSTEMD_ENV } from '../runtime/index.js';
import { agentPaths, type Topology } from '../topology/index.js';
import { ConfigApplier } from './apply.js';
import { SentinelEventRouter } from './event-router.js';
import { fileEventSink, type EventSink } from './events.js';
import { FastPath } from './fast-path.js';
import { FastSwitchGuard } from './fast-switch-guard.js';
import { FencePass } from './fence-pass.js';
import { PassReport } from './pass-report.js';
import { ProxySupervisor } from './proxy.js';
import { ProxyUpkeep } from './proxy-upkeep.js';
import { ReconcilePass } from './reconcile-pass.js';
import { APPLY_RETRY, SENTINEL_RECONNECT, type RetryPolicy } from './retry.js';
import { PassScheduler } from './scheduler.js';
import { SentinelLink } from './sentinel-links.js';
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

/**
 * The reconciler (design.md), wired from its parts: sentinel links (sentinel-links.ts) whose events go through
 * the router (event-router.ts) and only trigger passes; the scheduler (scheduler.ts: one pass at a time, run
 * again, backoff); the pass (reconcile-pass.ts: observe -> analyze -> apply); the fast path (fast-path.ts) and
 * its guard; fencing (fence-pass.ts); the proxy's processes (proxy-upkeep.ts). Passes run on start, on every
 * sentinel (re)connect, on every sentinel event, and every agent.reconcileIntervalMs. Nothing a peer does makes
 * it exit: every failure becomes an event and a later pass.
 */
export class Agent {
  private readonly events: EventSink;
  private readonly links: SentinelLink[];
  private readonly applier: ConfigApplier;
  private readonly proxy: ProxySupervisor | null;
  private readonly fast: FastPath | null;
  private readonly timelines: FailoverTimelines;
  private readonly upkeep: ProxyUpkeep | null;
  private readonly fence: FencePass;
  private readonly guard = new FastSwitchGuard();
  private readonly report: PassReport;
  private readonly scheduler: PassScheduler;
  private readonly pass: ReconcilePass;
  private readonly router: SentinelEventRouter;
  private stopped = false;

  constructor(
    private readonly topo: Topology,
    opts: AgentOptions,
  ) {
    const password = opts.password;
    const events = (this.events = opts.events ?? fileEventSink(agentPaths(topo.proxyDir).events));
    // Mode haproxy never restarts nutcracker to apply anything, but keeps it (and HAProxy) running.
    const supervises = topo.agent.apply === 'supervise' || (topo.agent.apply === 'haproxy' && process.env[UNDER_SYSTEMD_ENV] !== '1');
    this.proxy = supervises ? new ProxySupervisor(topo) : null;
    const applier = (this.applier = new ConfigApplier(topo, password, this.proxy));
    const timelines = (this.timelines = new FailoverTimelines(events));
    this.scheduler = new PassScheduler({
      pass: () => this.pass.run(),
      onError: (e) => events.emit('reconcile-error', { error: e.message }),
      onPassEnd: (n) => notePass(topo, n),
      intervalMs: topo.agent.reconcileIntervalMs,
      soonMs: opts.soonMs ?? 50,
      // ~2 s of quick re-checks at the default soonMs.
      maxSoonStreak: 40,
      retry: opts.applyRetry ?? APPLY_RETRY,
    });
    const applyFailed = (stage: string, error: Error, switches: Record<string, string>) => this.report.applyFailed(stage, error, switches);
    this.fence = new FencePass({ topo, password, events, applier, applyFailed });
    this.report = new PassReport({ mode: topo.agent.apply, events, timelines, fence: this.fence, scheduler: this.scheduler });
    this.upkeep = this.proxy
      ? new ProxyUpkeep({
          topo, password, events, applier, proxy: this.proxy, retry: opts.applyRetry ?? APPLY_RETRY, intervalMs: topo.agent.reconcileIntervalMs,
          afterApply: (r, before) => this.report.applied(r, {}, 'supervise', before),
        })
      : null;
    const handlers = {
      onMessage: (s: string, ch: string, msg: string) => this.router.route(s, ch, msg),
      onConnected: (s: string) => {
        events.emit('sentinel-connected', { sentinel: s });
        // Sentinel keeps these periods in memory only: a restarted sentinel gets them back here.
        void tuneSentinel(s, password, topo).then((problem) => {
          if (problem) events.emit('sentinel-tuning-failed', { sentinel: s, error: problem });
        });
        this.trigger(`connected ${s}`);
      },
      onLost: (s: string, error: string) => {
        events.emit('sentinel-lost', { sentinel: s, error });
        this.trigger(`lost ${s}`);
      },
    };
    this.links = topo.sentinel.instances.map((a) => new SentinelLink(a, password, handlers, opts.sentinelRetry ?? SENTINEL_RECONNECT));
    const trigger = (why: string) => this.trigger(why);
    this.pass = new ReconcilePass({
      topo, password, events, applier, links: this.links, upkeep: this.upkeep, fence: this.fence, guard: this.guard, timelines,
      report: this.report, holdingOff: () => this.scheduler.holdingOff, trigger,
    });
    const prepare = (shard: string, to: string) => void this.pass.prepare(shard, to);
    this.fast =
      opts.fastPath === false
        ? null
        : new FastPath({
            password,
            events,
            proxyPointsAt: async (shard, from) => (await applier.readBase()).servers[shard] === from,
            prepare,
            switchTo: (shard, from, to, at) => this.pass.fastSwitchTo(shard, from, to, at),
          });
    this.router = new SentinelEventRouter({ topo, events, timelines, fast: this.fast, prepare, trigger });
  }

  /** Reconcile passes run so far. */
  get passCount(): number {
    return this.scheduler.passes;
  }

  /** Resolves after the first reconcile pass has run (whatever it decided). */
  get ready(): Promise<void> {
    return this.scheduler.firstPass;
  }

  /** Whether a pass is in flight. */
  get running(): boolean {
    return this.scheduler.running;
  }

  start(): void {
    this.fence.started();
    this.events.emit('agent-started', { pid: process.pid, mode: this.topo.agent.apply, sentinels: this.topo.sentinel.instances, fastPath: this.fast !== null });
    this.events.human(`agent started (pid ${process.pid}, apply mode ${this.topo.agent.apply}, ${this.links.length} sentinels)`);
    for (const l of this.links) l.start();
    this.upkeep?.watch(() => this.scheduler.running, (what) => this.trigger(what));
    // The first pass waits (at most 500 ms) for a majority of subscriptions, so it does not report
    // "no majority" just because the connections are still being made.
    const need = majorityOf(this.links.length);
    const startedAt = Date.now();
    const warm = () => {
      if (this.stopped) return;
      if (this.links.filter((l) => l.connected).length >= need || Date.now() - startedAt > 500) this.scheduler.start();
      else setTimeout(warm, 10);
    };
    warm();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.upkeep?.unwatch();
    this.fast?.stopAll();
    // The pass in flight and an apply in flight finish first: a nutcracker must not be left stopped half-way
    // through a restart, nor a pass write after the agent said it stopped.
    await this.scheduler.stop(this.applier.idle());
    for (const l of this.links) l.close();
    this.timelines.flush();
    this.events.emit('agent-stopped', { pid: process.pid, passes: this.scheduler.passes });
  }

  /** Runs a reconcile now, or right after the one in progress. */
  trigger(_reason: string): void {
    this.scheduler.trigger();
  }
}

/** The pass count, for operators (is it still reconciling?) and tests (wait N passes, not a fixed time). */
function notePass(topo: Topology, passes: number): void {
  try {
    writeFileSync(agentPaths(topo.proxyDir).passes, `${passes}\n`);
  } catch {
    /* a full disk must not stop reconciling */
  }
}

/** Starts an agent; it runs until `stop()`. */
export function startAgent(topo: Topology, opts: AgentOptions): Agent {
  const a = new Agent(topo, opts);
  a.start();
  return a;
}
