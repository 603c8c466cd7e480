import { existsSync, readFileSync, statSync, openSync, readSync, closeSync } from 'node:fs';
import { FailoverFeed, type FailoverRow } from './failover-feed.js';
import { sourcesOf, type SourceResult, type StatusFacts } from './facts.js';
import { AgentMetrics } from './metrics.js';
import { NutcrackerAccumulator, readNutcrackerStats } from './nutcracker-stats.js';
import { EventHub } from './sse.js';
import { parseRejections } from '../runtime/index.js';
import { LogFollower } from './log-follower.js';

export interface ObserverOptions {
  shards: string[];
  sentinelCount: number;
  /** nutcracker's stats address and pool name. */
  stats: string;
  pool: string;
  /** nutcracker's log (unsupported commands); null when the proxy is not on this host. */
  proxyLog: string | null;
  /** The agent's events file: failover rows are rebuilt from its tail at start. */
  eventsFile: string | null;
  /** The status snapshot (the same function `status` uses). */
  snapshot: () => Promise<StatusFacts>;
  /** Bound on one snapshot; past it, the snapshot is reported as timed out rather than waited for. */
  snapshotTimeoutMs?: number;
  /** Bound on one read of nutcracker's stats. */
  statsTimeoutMs?: number;
  /** How often nutcracker's stats and log are read (their counters are summed across its restarts). */
  sampleMs?: number;
}

/** What the dashboard gets: the status snapshot plus what only the agent knows. */
export interface DashboardState {
  at: string;
  status: StatusFacts | null;
  sources: SourceResult[];
  /** Requests per second per shard through the proxy, from nutcracker's stats. */
  opsPerSecond: Record<string, number>;
  clientConnections: number | null;
}

/**
 * Everything the HTTP side shows, kept in the agent process beside the reconciler and independent of it: the
 * reconcile loop never waits on anything here, and everything here is bounded in time. Snapshots are taken
 * only when someone asks (a scrape, an open dashboard), at most one at a time, shared by concurrent askers.
 */
export class AgentObserver {
  readonly feed = new FailoverFeed();
  readonly metrics: AgentMetrics;
  readonly hub = new EventHub();
  private readonly nc = new NutcrackerAccumulator();
  private readonly log: LogFollower | null;
  private ncSource: SourceResult;
  private sampler: NodeJS.Timeout | null = null;
  private pusher: NodeJS.Timeout | null = null;
  private inflight: Promise<{ status: StatusFacts | null; sources: SourceResult[]; seconds: number }> | null = null;
  private last: { status: StatusFacts | null; sources: SourceResult[]; seconds: number; at: number } | null = null;

  constructor(private readonly o: ObserverOptions) {
    this.metrics = new AgentMetrics(o.shards);
    this.feed.listen(this.metrics.listener);
    this.feed.listen({
      row: (r) => this.hub.publish('failover', r),
      event: (e) => this.hub.publish('agent', e),
    });
    this.log = o.proxyLog ? new LogFollower(o.proxyLog) : null;
    this.ncSource = { source: 'nutcracker_stats', addr: o.stats, up: false, timedOut: false, error: 'not read yet' };
    if (o.eventsFile) this.replayEvents(o.eventsFile);
  }

  /** The agent's event sink side: every event the agent emits. */
  emit(event: string, fields: Record<string, unknown> = {}): void {
    this.feed.apply(event, fields, Date.now());
  }

  start(): void {
    const tick = () => void this.sample();
    tick();
    this.sampler = setInterval(tick, this.o.sampleMs ?? 1000);
    this.sampler.unref();
    // An open dashboard gets a fresh snapshot every second; nobody watching, nothing is asked.
    this.pusher = setInterval(() => {
      if (this.hub.size > 0) void this.state().then((s) => this.hub.broadcast('snapshot', s));
    }, 1000);
    this.pusher.unref();
  }

  stop(): void {
    if (this.sampler) clearInterval(this.sampler);
    if (this.pusher) clearInterval(this.pusher);
    this.hub.closeAll();
  }

  /** Reads nutcracker's stats and new log lines (bounded; a stats port that hangs costs one timeout). */
  async sample(): Promise<void> {
    const t = this.o.statsTimeoutMs ?? 500;
    try {
      const r = await readNutcrackerStats(this.o.stats, this.o.pool, t);
      this.nc.add(r, Date.now());
      this.metrics.nutcracker(this.nc.totals, r);
      this.ncSource = { source: 'nutcracker_stats', addr: this.o.stats, up: true, timedOut: false };
    } catch (e) {
      const error = (e as Error).message;
      this.ncSource = { source: 'nutcracker_stats', addr: this.o.stats, up: false, timedOut: /timed out/.test(error), error: /ECONNREFUSED/.test(error) ? 'connection refused' : error };
    }
    if (this.log) {
      // New lines only, through the one parser of nutcracker's `parsed unsupported command` line (status uses it too).
      const lines = this.log.read();
      if (lines.length > 0) {
        for (const c of parseRejections(lines.join('\n'), new Date(0)).commands) this.metrics.unsupportedCommand(c.command, c.count);
      }
    }
  }

  /** A status snapshot no older than `maxAgeMs`, bounded in time; one in flight at a time. */
  async snapshot(maxAgeMs = 500): Promise<{ status: StatusFacts | null; sources: SourceResult[]; seconds: number }> {
    if (this.last && Date.now() - this.last.at <= maxAgeMs) return this.last;
    this.inflight ??= this.take().finally(() => (this.inflight = null));
    return this.inflight;
  }

  private async take(): Promise<{ status: StatusFacts | null; sources: SourceResult[]; seconds: number }> {
    const t0 = performance.now();
    const bound = this.o.snapshotTimeoutMs ?? 2500;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), bound)));
    let status: StatusFacts | null = null;
    let sources: SourceResult[];
    try {
      const got = await Promise.race([this.o.snapshot(), deadline]);
      if (got === 'timeout') {
        sources = [{ source: 'status', addr: 'snapshot', up: false, timedOut: true, error: `no answer within ${bound} ms` }];
      } else {
        status = got;
        sources = sourcesOf(got);
      }
    } catch (e) {
      sources = [{ source: 'status', addr: 'snapshot', up: false, timedOut: false, error: (e as Error).message }];
    } finally {
      clearTimeout(timer);
    }
    const out = { status, sources, seconds: (performance.now() - t0) / 1000, at: Date.now() };
    this.last = out;
    return out;
  }

  /** The /metrics text: a fresh snapshot and a fresh read of nutcracker's stats, both bounded. */
  async scrape(): Promise<{ text: string; timedOut: SourceResult[] }> {
    const t0 = performance.now();
    const [snap] = await Promise.all([this.snapshot(0), this.sample()]);
    const sources = [...snap.sources, this.ncSource];
    const text = await this.metrics.render(snap.status, sources, (performance.now() - t0) / 1000, this.o.sentinelCount);
    return { text, timedOut: sources.filter((s) => s.timedOut) };
  }

  async state(): Promise<DashboardState> {
    const snap = await this.snapshot(500);
    return {
      at: new Date().toISOString(),
      status: snap.status,
      sources: [...snap.sources, this.ncSource],
      opsPerSecond: Object.fromEntries(Object.entries(this.nc.rates).map(([k, v]) => [k, Math.round(v)])),
      clientConnections: this.nc.last?.clientConnections ?? null,
    };
  }

  failovers(): FailoverRow[] {
    return this.feed.history();
  }

  /** Rebuilds the failover rows from the last part of the events file (the counters start at this process). */
  private replayEvents(file: string): void {
    if (!existsSync(file)) return;
    let text: string;
    try {
      const size = statSync(file).size;
      const len = Math.min(size, 4 * 1024 * 1024);
      if (len === size) text = readFileSync(file, 'utf8');
      else {
        const buf = Buffer.alloc(len);
        const fd = openSync(file, 'r');
        try {
          readSync(fd, buf, 0, len, size - len);
        } finally {
          closeSync(fd);
        }
        text = buf.toString('utf8').split('\n').slice(1).join('\n');
      }
    } catch {
      return;
    }
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const { ts, event, ...fields } = JSON.parse(line) as Record<string, unknown>;
        const at = typeof ts === 'string' ? Date.parse(ts) : NaN;
        if (typeof event === 'string' && Number.isFinite(at)) this.feed.apply(event, fields, at, true);
      } catch {
        /* a torn or foreign line */
      }
    }
  }
}
