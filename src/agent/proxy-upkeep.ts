import { readFileSync } from 'node:fs';
import { ourPid, startHaproxy } from '../runtime/index.js';
import { haproxyPaths, proxyPaths, type Topology } from '../topology/index.js';
import { sha256, type ApplyResult, type BaseConfig, type ConfigApplier } from './apply.js';
import type { EventSink } from './events.js';
import { NutcrackerFileGuard } from './nutcracker-guard.js';
import type { ProxySupervisor } from './proxy.js';

export interface ProxyUpkeepDeps {
  topo: Topology;
  password: string | null;
  events: EventSink;
  applier: ConfigApplier;
  proxy: ProxySupervisor;
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
  private watchTimer: NodeJS.Timeout | null = null;

  constructor(private readonly d: ProxyUpkeepDeps) {
    this.nutGuard = new NutcrackerFileGuard(d.topo, d.password);
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
      if (this.d.proxy.current() === null) gone('proxy gone');
      else if (this.haproxyMode && this.haproxyPid() === null) gone('haproxy gone');
    }, 100);
  }

  unwatch(): void {
    if (this.watchTimer) clearInterval(this.watchTimer);
    this.watchTimer = null;
  }

  private haproxyPid(): number | null {
    return ourPid(haproxyPaths(this.d.topo.stateDir).pid, this.d.topo.stateDir);
  }

  /** Supervise mode, nothing to switch: nutcracker must be running, on the config file as it is now. */
  async upkeepSuperviseMode(base: BaseConfig): Promise<void> {
    const { proxy, applier, events } = this.d;
    const pid = proxy.current();
    let why: string | null = null;
    if (pid === null) why = 'not running';
    else if (base.problem === null && !proxy.runsConfig(pid, base.sha, base.path)) why = 'running an older config than the file';
    if (why === null) return;
    events.emit(pid === null ? 'proxy-down' : 'proxy-stale', { pid, why });
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
    if (this.haproxyPid() !== null) return;
    events.emit('haproxy-down', {});
    try {
      const r = await applier.exclusive(async () => {
        if (this.haproxyPid() !== null) return null;
        const base = await applier.readBase();
        return await startHaproxy(topo, base.problem === null ? null : base.text);
      });
      if (r) {
        events.emit('haproxy-restarted', r);
        events.human(`haproxy was not running; started it again (pid ${r.pid}) on ${JSON.stringify(r.servers)}`);
      }
    } catch (e) {
      events.emit('haproxy-start-failed', { error: (e as Error).message });
      events.human(`cannot start haproxy: ${(e as Error).message}`);
    }
  }

  private async keepNutcracker(): Promise<void> {
    const { topo, applier, events, proxy } = this.d;
    await this.nutGuard.prime();
    if (proxy.current() !== null) return;
    events.emit('proxy-down', { pid: null, why: 'not running' });
    try {
      const r = await applier.exclusive(async () => {
        if (proxy.current() !== null) return null;
        const conf = proxyPaths(topo.stateDir).conf;
        const wrong = await this.nutGuard.ensureUsable();
        if (wrong !== null) {
          events.emit('config-invalid', { path: conf, error: `${conf}: ${wrong}; restored the last good config (the rejected one is ${conf}.rejected)` });
          events.human(`${conf}: ${wrong}; restored the last good config before starting nutcracker`);
        }
        return await proxy.restart(sha256(readFileSync(conf, 'utf8')));
      });
      if (r) events.emit('proxy-restarted', { ...r });
    } catch (e) {
      events.emit('proxy-start-failed', { error: (e as Error).message });
      events.human(`cannot start nutcracker: ${(e as Error).message}`);
    }
  }
}
