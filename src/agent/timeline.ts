import type { EventSink } from './events.js';

interface Timeline {
  shard: string;
  from: string | null;
  to: string | null;
  startedAt: number;
  odownAt?: number;
  selectedAt?: number;
  promotedAt?: number;
  firstSwitchAt?: number;
  writtenAt?: number;
  servingAt?: number | null;
  path?: string;
  timer?: NodeJS.Timeout;
  reported?: boolean;
}

const ms = (a: number | undefined | null, b: number | undefined | null): number | null =>
  a === undefined || a === null || b === undefined || b === null ? null : Math.round((a - b) * 10) / 10;

/**
 * One human line (and one `failover-timings` event) per failover, with its timings measured on this process's
 * monotonic clock: odown, +selected-slave, replica seen as master (fast path), first +switch-master from any
 * sentinel, config written, proxy serving the new master. Times are shown relative to the first +switch-master,
 * the earliest signal every Sentinel-based agent gets; negative means the proxy was ahead of it (fast path).
 */
export class FailoverTimelines {
  private readonly active = new Map<string, Timeline>();

  constructor(
    private readonly events: EventSink,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * The timeline of the shard's current failover. Late echoes of a reported one (the other sentinels'
   * +switch-master) land on it and change nothing; `fresh` (a new +odown) starts a new one after a report.
   */
  private get(shard: string, from: string | null, to: string | null, fresh = false): Timeline {
    let t = this.active.get(shard);
    const stale = t !== undefined && (this.now() - t.startedAt > 60_000 || (fresh && t.reported === true));
    const other = t !== undefined && to !== null && t.to !== null && t.to !== to;
    if (!t || stale || other) {
      if (t) this.report(t);
      t = { shard, from, to, startedAt: this.now() };
      // Whatever was seen is reported after 20 s even if the failover never completed from our point of view.
      t.timer = setTimeout(() => this.report(t!), 20_000);
      t.timer.unref?.();
      this.active.set(shard, t);
    }
    if (t.from === null && from !== null) t.from = from;
    if (t.to === null && to !== null) t.to = to;
    return t;
  }

  odown(shard: string, addr: string): void {
    const t = this.get(shard, addr, null, true);
    t.odownAt ??= this.now();
  }
  selected(shard: string, from: string, to: string): void {
    const t = this.get(shard, from, to);
    t.selectedAt ??= this.now();
  }
  promoted(shard: string, from: string, to: string, at: number): void {
    const t = this.get(shard, from, to);
    t.promotedAt ??= at;
  }
  switchSeen(shard: string, from: string, to: string): void {
    const t = this.get(shard, from, to);
    t.firstSwitchAt ??= this.now();
    this.maybeReport(t);
  }
  deciding(shard: string, from: string | null, to: string, path: string): void {
    const t = this.get(shard, from, to);
    t.path ??= path;
  }
  applied(shard: string, to: string, writtenAt: number, servingAt: number | null, path: string): void {
    const t = this.get(shard, null, to);
    if (t.writtenAt === undefined) {
      t.writtenAt = writtenAt;
      t.servingAt = servingAt;
      t.path ??= path;
    }
    this.maybeReport(t);
  }

  private maybeReport(t: Timeline): void {
    if (t.firstSwitchAt !== undefined && t.writtenAt !== undefined) this.report(t);
  }

  flush(): void {
    for (const t of this.active.values()) this.report(t);
  }

  private report(t: Timeline): void {
    if (t.reported) return;
    t.reported = true;
    if (t.timer) clearTimeout(t.timer);
    if (t.writtenAt === undefined && t.firstSwitchAt === undefined) return;
    const ref = t.firstSwitchAt;
    const fields = {
      shard: t.shard,
      from: t.from,
      to: t.to,
      path: t.path ?? null,
      // Relative to the first +switch-master seen (negative: before it).
      writtenMs: ms(t.writtenAt, ref),
      servingMs: ms(t.servingAt, ref),
      odownToServingMs: ms(t.servingAt, t.odownAt),
      selectedToServingMs: ms(t.servingAt, t.selectedAt),
      promotedToServingMs: ms(t.servingAt, t.promotedAt),
      odownToSwitchSeenMs: ms(t.firstSwitchAt, t.odownAt),
    };
    this.events.emit('failover-timings', fields);
    const f = (v: number | null) => (v === null ? 'n/a' : `${v > 0 ? '+' : ''}${v} ms`);
    this.events.human(
      `failover ${t.shard}: ${t.from ?? '?'} -> ${t.to ?? '?'} (${t.path ?? 'not applied'} path); relative to the first +switch-master: ` +
        `config written ${f(fields.writtenMs)}, proxy serving the new master ${f(fields.servingMs)}` +
        (ref === undefined ? ' (no +switch-master seen)' : '') +
        `; odown -> serving ${f(fields.odownToServingMs)}`,
    );
  }
}
