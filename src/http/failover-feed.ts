/**
 * The agent's events, as they happen, turned into what an operator watches: one row per failover with its
 * phases, and the counts behind the failover metrics. Fed by the agent's event sink (tee), so it sees exactly
 * what the events file gets, in the same order; it never acts on anything.
 */

/** A failover as the agent saw it. Times are epoch ms (wall clock, from the events); null: not seen. */
export interface FailoverRow {
  id: number;
  shard: string;
  from: string | null;
  to: string | null;
  /** fast | majority | notify: which rule moved the proxy. */
  path: string | null;
  /** First +sdown of the master from any sentinel. */
  downAt: number | null;
  /** First +odown of the master. */
  odownAt: number | null;
  /** The new master seen as master: the agent's own ROLE poll (fast path) or a sentinel's +promoted-slave. */
  promotedAt: number | null;
  /** The proxy serves the shard from the new master. */
  servingAt: number | null;
  /** First +switch-master from any sentinel. */
  firstSwitchAt: number | null;
  /** Measured by the agent on its monotonic clock (timeline.ts), once it reports the failover. */
  measured: { odownToServingMs: number | null; promotedToServingMs: number | null; servingMsAfterFirstSwitch: number | null } | null;
}

export interface FeedListener {
  /** A row was created or changed. */
  row(r: FailoverRow): void;
  /** The proxy switched a shard (counted once per switch). */
  failover(shard: string, path: string, at: number): void;
  /** The agent reported a failover's durations, in seconds (null: not measured). */
  durations(shard: string, odownToServing: number | null, promotionToServing: number | null): void;
  /** The agent (re)started nutcracker. */
  proxyRestart(): void;
  /** Any event, for the dashboard's event log. */
  event(e: Record<string, unknown>): void;
}

const OPEN_MS = 60_000;

export class FailoverFeed {
  private readonly rows: FailoverRow[] = [];
  private nextId = 1;
  private readonly listeners = new Set<Partial<FeedListener>>();

  constructor(private readonly keep = 200) {}

  listen(l: Partial<FeedListener>): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** The rows, oldest first. */
  history(): FailoverRow[] {
    return this.rows.map((r) => ({ ...r }));
  }

  /**
   * One agent event. `replay` (rebuilding rows from the events file at start) updates rows only: what happened
   * before this process started is not counted again in its counters.
   */
  apply(event: string, f: Record<string, unknown>, at: number, replay = false): void {
    const str = (k: string): string | null => (typeof f[k] === 'string' ? (f[k] as string) : null);
    const shard = str('shard');
    if (!replay) this.each((l) => l.event?.({ ts: new Date(at).toISOString(), event, ...f }));
    switch (event) {
      case 'sdown':
      case 'odown': {
        if (f.state !== '+' || f.role !== 'master' || shard === null) return;
        const r = this.rowFor(shard, at, str('addr'), null, true);
        if (event === 'sdown') r.downAt ??= at;
        else {
          r.odownAt ??= at;
          r.downAt ??= at;
        }
        r.from ??= str('addr');
        return this.changed(r);
      }
      case 'promotion-seen':
      case 'sentinel-event': {
        if (event === 'sentinel-event' && f.type !== '+promoted-slave') return;
        if (shard === null) return;
        const to = event === 'promotion-seen' ? str('to') : str('addr');
        const r = this.rowFor(shard, at, null, to, false);
        r.promotedAt = r.promotedAt === null ? at : Math.min(r.promotedAt, at);
        r.to ??= to;
        return this.changed(r);
      }
      case 'switch-seen': {
        if (shard === null) return;
        const r = this.rowFor(shard, at, str('from'), str('to'), false);
        r.firstSwitchAt ??= at;
        r.from ??= str('from');
        r.to ??= str('to');
        return this.changed(r);
      }
      case 'config-applied': {
        if (f.restart !== null && f.restart !== undefined && !replay) this.each((l) => l.proxyRestart?.());
        const path = str('path') ?? 'unknown';
        const changes = Array.isArray(f.changes) ? (f.changes as Array<{ shard?: unknown; from?: unknown; to?: unknown }>) : [];
        if (f.changed === false) return;
        for (const c of changes) {
          if (typeof c.shard !== 'string' || typeof c.to !== 'string') continue;
          const r = this.rowFor(c.shard, at, typeof c.from === 'string' ? c.from : null, c.to, false);
          if (r.servingAt !== null) continue;
          r.servingAt = at;
          r.path = path;
          r.to = c.to;
          if (typeof c.from === 'string') r.from ??= c.from;
          if (!replay) this.each((l) => l.failover?.(c.shard as string, path, at));
          this.changed(r);
        }
        return;
      }
      case 'failover-timings': {
        if (shard === null) return;
        const r = [...this.rows].reverse().find((x) => x.shard === shard && (x.to === str('to') || x.to === null));
        const n = (k: string) => (typeof f[k] === 'number' ? (f[k] as number) : null);
        const measured = {
          odownToServingMs: n('odownToServingMs'),
          promotedToServingMs: n('promotedToServingMs'),
          servingMsAfterFirstSwitch: n('servingMs'),
        };
        // The agent times the promotion itself only on the fast path; otherwise the sentinels' +promoted-slave.
        let promo = measured.promotedToServingMs;
        if (promo === null && r && r.promotedAt !== null && r.servingAt !== null) promo = r.servingAt - r.promotedAt;
        if (r) {
          r.measured = measured;
          this.changed(r);
        }
        if (!replay && measured.odownToServingMs !== null) {
          const s = (v: number | null) => (v === null ? null : v / 1000);
          this.each((l) => l.durations?.(shard, s(measured.odownToServingMs), s(promo)));
        }
        return;
      }
      default:
        return;
    }
  }

  /**
   * The shard's failover in progress, or a new row. A failover is one row from the first sign (down, or the
   * proxy switch when nothing before it was seen) until it serves; late echoes (the other sentinels'
   * +sdown/+switch-master of the old master) land on the same row.
   */
  private rowFor(shard: string, at: number, from: string | null, to: string | null, starting: boolean): FailoverRow {
    const last = [...this.rows].reverse().find((r) => r.shard === shard);
    const start = last ? (last.downAt ?? last.odownAt ?? last.promotedAt ?? last.servingAt ?? last.firstSwitchAt ?? at) : at;
    let fresh = !last || at - start > OPEN_MS;
    if (last && !fresh && last.servingAt !== null) {
      // A served failover takes echoes of itself; a new master going down, or another target, is a new one.
      if (starting && from !== null && from !== last.from) fresh = true;
      if (!starting && to !== null && last.to !== null && to !== last.to) fresh = true;
    }
    if (last && !fresh) return last;
    const r: FailoverRow = {
      id: this.nextId++,
      shard,
      from,
      to,
      path: null,
      downAt: null,
      odownAt: null,
      promotedAt: null,
      servingAt: null,
      firstSwitchAt: null,
      measured: null,
    };
    this.rows.push(r);
    if (this.rows.length > this.keep) this.rows.shift();
    return r;
  }

  private changed(r: FailoverRow): void {
    const copy = { ...r };
    this.each((l) => l.row?.(copy));
  }

  private each(fn: (l: Partial<FeedListener>) => void): void {
    for (const l of this.listeners) {
      try {
        fn(l);
      } catch {
        /* a listener's failure must not reach the agent */
      }
    }
  }
}
