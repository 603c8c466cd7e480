import type { RoleProbe } from './analyze.js';
import type { EventSink } from './events.js';
import { probeRole } from './role-probe.js';

/**
 * THE FAST PATH: switch the proxy as soon as the replica Sentinel chose reports master, instead of waiting for
 * Sentinel to notice.
 *
 * Why: Sentinel's leader sends SLAVEOF NO ONE to the chosen replica right after `+selected-slave`, but only
 * learns that it worked from its next INFO poll of that replica, which runs once a second during a failover
 * (sentinel.md). Until then no sentinel reports the new address and no `+switch-master` is published: the
 * majority path cannot start before that poll. Polling ROLE on the chosen replica every ~15 ms ourselves
 * sees the promotion within milliseconds of it happening, which removes up to a second of downtime.
 *
 * Guards (each must hold, or the fast path does nothing and the majority path decides later):
 *   - the event names a shard of the description, and the chosen replica is one of its instances;
 *   - the proxy still points at the master the event says is failing;
 *   - the replica answers ROLE master before failover-timeout, and no abort/end of that failover came first;
 *   - the old master, asked right then, does NOT answer ROLE master (refused, timed out, or now a replica):
 *     a failover of a master that is still serving (e.g. SENTINEL FAILOVER by hand) is left to the majority.
 *
 * What it costs: for up to about a second (until a majority of sentinels report the new master) the proxy
 * follows one sentinel's choice confirmed by the replica itself, not a majority. If that failover is then
 * aborted (leader crashes or loses its link before its INFO poll, failover-timeout expires), Sentinel later
 * turns the replica back into a replica (+convert-to-slave): writes the proxy sent it meanwhile are lost,
 * and until the majority agrees on a master that answers ROLE master the proxy keeps pointing there. The
 * majority reconcile overrides the early switch as soon as no sentinel reports the failover in progress
 * (analyze.ts, `fastSwitch`), so the proxy always ends on what the sentinels finally agree.
 */
export interface FastPathDeps {
  password: string | null;
  events: EventSink;
  /** Poll interval while waiting for the promotion. */
  pollMs?: number;
  /** ROLE probe; injectable for tests. */
  probe?: (addr: string, password: string | null, timeoutMs: number) => Promise<RoleProbe>;
  /** Whether the proxy config still points the shard at `from`. */
  proxyPointsAt(shard: string, from: string): Promise<boolean>;
  /** Prepares (checks) the config that would point the shard at `to`, so the switch itself skips nutcracker -t. */
  prepare(shard: string, to: string): void;
  /** Performs the switch through the one apply path. */
  switchTo(shard: string, from: string, to: string, promotedAtMs: number): Promise<void>;
}

interface Watch {
  from: string;
  to: string;
  cancelled: boolean;
}

export class FastPath {
  private readonly watches = new Map<string, Watch>();

  constructor(private readonly deps: FastPathDeps) {}

  /** `+selected-slave` from the leader: `to` was chosen to replace `from` in `shard`. */
  selected(shard: string, from: string, to: string, timeoutMs: number): void {
    const prev = this.watches.get(shard);
    if (prev && prev.to === to && prev.from === from) return;
    if (prev) prev.cancelled = true;
    const w: Watch = { from, to, cancelled: false };
    this.watches.set(shard, w);
    void this.run(shard, w, timeoutMs).finally(() => {
      if (this.watches.get(shard) === w) this.watches.delete(shard);
    });
  }

  /** A failover of `shard` ended or was aborted: stop waiting for its promotion. */
  cancel(shard: string, why: string): void {
    const w = this.watches.get(shard);
    if (!w) return;
    w.cancelled = true;
    this.watches.delete(shard);
    this.deps.events.emit('fast-path-cancelled', { shard, to: w.to, why });
  }

  stopAll(): void {
    for (const w of this.watches.values()) w.cancelled = true;
    this.watches.clear();
  }

  private async run(shard: string, w: Watch, timeoutMs: number): Promise<void> {
    const probe = this.deps.probe ?? probeRole;
    const pollMs = this.deps.pollMs ?? 15;
    const { events } = this.deps;
    try {
      if (!(await this.deps.proxyPointsAt(shard, w.from))) {
        events.emit('fast-path-declined', { shard, from: w.from, to: w.to, why: `the proxy does not point ${shard} at ${w.from}` });
        return;
      }
      this.deps.prepare(shard, w.to);
      const deadline = Date.now() + timeoutMs;
      const t0 = performance.now();
      const trace: string[] = [];
      let polls = 0;
      while (!w.cancelled) {
        if (Date.now() > deadline) {
          events.emit('fast-path-declined', { shard, from: w.from, to: w.to, why: `${w.to} did not report master within ${timeoutMs} ms`, polls });
          return;
        }
        polls++;
        const r = await probe(w.to, this.deps.password, 100);
        if (trace.length < 200) trace.push(`${Math.round(performance.now() - t0)}:${'error' in r ? r.error : r.role}`);
        if (w.cancelled) return;
        if (!('error' in r) && r.role === 'master') {
          const promotedAtMs = performance.now();
          const old = await probe(w.from, this.deps.password, 100);
          if (!('error' in old) && old.role === 'master') {
            events.emit('fast-path-declined', { shard, from: w.from, to: w.to, why: `the old master ${w.from} still answers ROLE master; leaving it to the majority` });
            return;
          }
          if (w.cancelled) return;
          events.emit('promotion-seen', { shard, from: w.from, to: w.to, polls, waitedMs: Math.round(performance.now() - t0), oldMaster: 'error' in old ? old.error : old.role, trace: trace.slice(-5) });
          await this.deps.switchTo(shard, w.from, w.to, promotedAtMs);
          return;
        }
        await new Promise((res) => setTimeout(res, pollMs));
      }
    } catch (e) {
      events.emit('fast-path-error', { shard, to: w.to, error: (e as Error).message });
    }
  }
}
