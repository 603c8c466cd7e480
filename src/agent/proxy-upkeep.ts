import { readFileSync } from 'node:fs';
import { ourPid, startHaproxy } from '../runtime/index.js';
import { haproxyPaths, proxyPaths, type Topology } from '../topology/index.js';
import { sha256, type ApplyResult, type BaseConfig, type ConfigApplier } from './apply.js';
import type { EventSink } from './events.js';
import { NutcrackerFileGuard } from './nutcracker-guard.js';
import { FailureStreak } from './failure-streak.js';
import type { ProxySupervisor, RestartTimings } from './proxy.js';
import type { RetryPolicy } from './retry.js';

export interface ProxyUpkeepDeps {
  topo: Topology;
  password: string | null;
  events: EventSink;
  applier: ConfigApplier;
  proxy: ProxySupervisor;
  /** Backoff for starting HAProxy or nutcracker again after a failed start (haproxy mode). */
  retry: RetryPolicy;
  /** The hold-off when the policy says 'stop'. */
  intervalMs: number;
  /** Reports a restart made through the apply path (supervise mode), as any apply is reported. */
  afterApply(r: ApplyResult, before: Record<string, string>): void;
}

/**
 * Keeps the proxy's processes running while the agent supervises them (supervise mode; haproxy mode outside
 * systemd): nutcracker in supervise mode, on the config file as it is now; HAProxy and nutcracker in haproxy
 * mode. Every start is made under the apply lock, so it never races an apply or a reshard's cut.
 */
export class ProxyUpkeep {
  private readonly nutGuard: NutcrackerFileGuard;
  private readonly haproxyFailures: FailureStreak;
  private readonly nutcrackerFailures: FailureStreak;
  /** supervise mode: what was last reported wrong with the supervised nutcracker (reported when it changes). */
  private lastWhy: string | null = null;
  private watchTimer: NodeJS.Timeout | null = null;

  constructor(private readonly d: ProxyUpkeepDeps) {
    this.nutGuard = new NutcrackerFileGuard(d.topo, d.password);
    this.haproxyFailures = new FailureStreak(d.retry, d.intervalMs);
    this.nutcrackerFailures = new FailureStreak(d.retry, d.intervalMs);
  }

  private get haproxyMode(): boolean {
    return this.d.topo.agent.apply === 'haproxy';
  }

  /**
   * Calls `gone` within 100 ms of a supervised process dying (the next pass restarts it), unless `busy` (a pass
   * is running: it will see the same thing).
   */
  watch(busy: () => boolean, gone: (what: string) => void): void {
    this.watchTimer = setInterval(() => {
      if (busy()) return;
      // A process that failed to start is retried on its backoff, not every time this looks.
      if (this.d.proxy.current() === null) {
        if (!this.nutcrackerFailures.holdingOff) gone('proxy gone');
      } else if (this.haproxyMode && this.haproxyPid() === null && !this.haproxyFailures.holdingOff) gone('haproxy gone');
    }, 100);
  }

  unwatch(): void {
    if (this.watchTimer) clearInterval(this.watchTimer);
    this.watchTimer = null;
  }

  private haproxyPid(): number | null {
    return ourPid(haproxyPaths(this.d.topo.proxyDir).pid, this.d.topo.stateDir);
  }

  /** Supervise mode, nothing to switch: nutcracker must be running, on the config file as it is now. */
  async upkeepSuperviseMode(base: BaseConfig): Promise<void> {
    const { proxy, applier, events } = this.d;
    const pid = proxy.current();
    let why: string | null = null;
    if (pid === null) why = 'not running';
    else if (base.problem === null && !proxy.runsConfig(pid, base.sha, base.path)) why = 'running an older config than the file';
    if (why === null) {
      if (base.problem === null) applier.noteServing(base.text);
      this.lastWhy = null;
      return;
    }
    // Once per state: a nutcracker that keeps failing to start is retried on the apply backoff, not re-announced.
    if (why !== this.lastWhy) events.emit(pid === null ? 'proxy-down' : 'proxy-stale', { pid, why });
    this.lastWhy = why;
    // Decided again under the apply lock: an apply that finished meanwhile (a fast switch, notify) may already
    // have started the nutcracker this one would otherwise restart a second time.
    const r = await applier.apply(
      (b) => {
        const now = proxy.current();
        const settled = now !== null && (b.problem !== null || proxy.runsConfig(now, b.sha, b.path));
        return settled ? null : b.text;
      },
      { force: true },
    );
    if (r.ok && !r.changed && r.restart === null) return;
    this.d.afterApply(r, base.servers);
  }

  /**
   * Mode haproxy: HAProxy and nutcracker must be running. HAProxy is started on its file, which holds the
   * masters last applied (every switch writes it before the runtime API call; runtime changes are lost with
   * the process); the pass that follows reconciles it with the sentinels. nutcracker's file never changes
   * in this mode, so it is only started when it is gone.
   */
  async upkeepHaproxyMode(): Promise<void> {
    await this.keepHaproxy();
    await this.keepNutcracker();
  }

  private async keepHaproxy(): Promise<void> {
    const { topo, applier, events } = this.d;
    if (this.haproxyPid() !== null || this.haproxyFailures.holdingOff) return;
    if (this.haproxyFailures.count === 0) events.emit('haproxy-down', {});
    try {
      const r = await applier.exclusive(async () => {
        if (this.haproxyPid() !== null) return null;
        const base = await applier.readBase();
        return await startHaproxy(topo, base.problem === null ? null : base.text);
      });
      if (r) {
        events.emit('haproxy-restarted', r);
        events.human(`haproxy was not running; started it again (pid ${r.pid}) on ${JSON.stringify(r.servers)}${this.ended(this.haproxyFailures)}`);
      }
    } catch (e) {
      const f = this.haproxyFailures.failed(e);
      if (!f.report) return;
      events.emit('haproxy-start-failed', { error: (e as Error).message, retryInMs: f.delayMs });
      events.human(`cannot start haproxy: ${(e as Error).message}; retrying on a backoff (logged again once it starts)`);
    }
  }

  private async keepNutcracker(): Promise<void> {
    const { topo, applier, events, proxy } = this.d;
    await this.nutGuard.prime();
    if (proxy.current() !== null || this.nutcrackerFailures.holdingOff) return;
    if (this.nutcrackerFailures.count === 0) events.emit('proxy-down', { pid: null, why: 'not running' });
    const conf = proxyPaths(topo.proxyDir).conf;
    try {
      const started = await applier.exclusive(async () => {
        if (proxy.current() !== null) return null;
        const wrong = await this.nutGuard.ensureUsable();
        if (wrong !== null) {
          events.emit('config-invalid', { path: conf, error: `${conf}: ${wrong}; restored the last good config (the rejected one is ${conf}.rejected)` });
          events.human(`${conf}: ${wrong}; restored the last good config before starting nutcracker`);
        }
        return await this.startNutcracker(conf);
      });
      if (started === null) return;
      events.emit('proxy-restarted', { ...started.timings });
      if (started.rejected !== null) this.nutcrackerFailed(new Error(started.rejected), { restored: true });
      else {
        const ended = this.ended(this.nutcrackerFailures);
        if (ended) events.human(`nutcracker started again (pid ${started.timings.pid})${ended}`);
      }
    } catch (e) {
      this.nutcrackerFailed(e as Error, { restored: false });
    }
  }

  /** Reported once per streak (failure-streak.ts); the retries follow on its backoff. */
  private nutcrackerFailed(e: Error, detail: { restored: boolean }): void {
    const f = this.nutcrackerFailures.failed(e);
    if (!f.report) return;
    this.d.events.emit('proxy-start-failed', { error: e.message, ...detail, retryInMs: detail.restored ? null : f.delayMs });
    this.d.events.human(`cannot start nutcracker: ${e.message}${detail.restored ? '' : '; retrying on a backoff (logged again once it starts)'}`);
  }

  /**
   * Starts nutcracker on its file. When it does not start on it (a file `nutcracker -t` accepts can still fail,
   * e.g. on a listen address another process holds) and a file it did start on is at hand, that one goes back
   * in place and is started instead; `rejected` then says what happened, to be reported as a failure.
   */
  private async startNutcracker(conf: string): Promise<{ timings: RestartTimings; rejected: string | null }> {
    const text = readFileSync(conf, 'utf8');
    try {
      const timings = await this.d.proxy.restart(sha256(text));
      this.nutGuard.started(text);
      return { timings, rejected: null };
    } catch (e) {
      const restored = await this.nutGuard.backToLastGood();
      if (restored === null) throw e;
      const timings = await this.d.proxy.restart(sha256(restored));
      this.nutGuard.started(restored);
      const rejected = `nutcracker did not start on ${conf} (${(e as Error).message}); the last good config is back in place and serving (pid ${timings.pid}); the rejected one is ${conf}.rejected`;
      return { timings, rejected };
    }
  }

  private ended(streak: FailureStreak): string {
    const e = streak.succeeded();
    return e ? `, after ${e.failures} failed attempts over ${Math.round(e.sinceMs / 1000)} s` : '';
  }
}
