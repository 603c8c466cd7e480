// Over 250 lines on purpose: one measuring client loop and the report computed from its samples; apart, the figure would lose how it was taken.
/**
 * What a client sees during a failover: a writer (SET) or a reader (GET) in a tight loop through the proxy,
 * recording the time of every success. Unavailability is the longest stretch between consecutive successes.
 *
 * The loop must measure the system, not a client library: a short per-command timeout, no backoff, and a
 * fresh connection after every connection-level failure (nutcracker is restarted on failover, which drops
 * every client connection; ioredis' own reconnect would add its backoff to the figure).
 */
import type { Redis } from 'ioredis';
import { redisClient } from '../runtime/index.js';

/** Why one command failed, as far as a client can tell. */
export type FailureKind =
  /** The master refused the write: fewer connected replicas than min-replicas-to-write. */
  | 'noreplicas'
  /** The write reached a replica. */
  | 'readonly'
  /** The proxy answered with an error: it could not reach the shard (connection refused/reset/timed out). */
  | 'proxy'
  /** Any other error reply (LOADING, MASTERDOWN, ...). */
  | 'server'
  /** No connection to the proxy, or the connection dropped. */
  | 'connection'
  /** No answer within the per-command timeout. */
  | 'timeout';

export const FAILURE_KINDS: readonly FailureKind[] = ['connection', 'timeout', 'proxy', 'server', 'readonly', 'noreplicas'];

/** Short labels for reports. */
export const FAILURE_LABELS: Record<FailureKind, string> = {
  connection: 'connection refused/dropped',
  timeout: 'timed out',
  proxy: 'proxy could not reach the shard',
  server: 'other error reply',
  readonly: 'READONLY (a replica)',
  noreplicas: 'refused NOREPLICAS',
};

export function classifyFailure(e: unknown): FailureKind {
  const err = e as { name?: string; message?: string; code?: string };
  const msg = err?.message ?? String(e);
  if (err?.name === 'ReplyError') {
    if (msg.startsWith('NOREPLICAS')) return 'noreplicas';
    if (msg.startsWith('READONLY')) return 'readonly';
    // nutcracker relays its own failure to reach a server as "-ERR <strerror>".
    if (/^ERR (Connection|Host|Network|No route|Broken pipe|Operation timed out)/i.test(msg) || /timed out/i.test(msg)) return 'proxy';
    return 'server';
  }
  if (/timed out|ETIMEDOUT/i.test(msg) || err?.code === 'ETIMEDOUT') return 'timeout';
  return 'connection';
}

/** Failure counts of one kind, with when they happened. */
export interface FailureStats {
  count: number;
  /** Time of the first and last failure of this kind, relative to the reference (ms). */
  firstMs: number;
  lastMs: number;
  /** One message, for the curious. */
  sample: string;
}

export interface ProbeReport {
  name: string;
  op: 'write' | 'read';
  successes: number;
  /** Longest stretch without a success (ms), including one still open at the end of the window. */
  longestGapMs: number;
  /** Where that stretch lies, relative to the reference (ms): last success before, first success after. */
  gapFromMs: number | null;
  gapToMs: number | null;
  /** True when no success came after the longest stretch began (the window ended inside it). */
  open: boolean;
  /** Stretches without a success of at least OUTAGE_MS: more than one means the client saw separate outages. */
  outages: number;
  /** Their total length (ms). */
  outageMs: number;
  failures: Partial<Record<FailureKind, FailureStats>>;
  /** Connections opened (1 + one per connection-level failure). */
  connections: number;
  windowMs: number;
}

/** A stretch without a success at least this long counts as an outage (a healthy loop succeeds every ~0.1-1 ms). */
export const OUTAGE_MS = 100;

/**
 * The bookkeeping of a probe, free of I/O so it can be tested with plain numbers. Times are milliseconds on
 * one monotonic clock; `ref` (the kill) anchors the relative times in the report.
 */
export class GapTracker {
  private last: number | null = null;
  private maxGap = 0;
  private maxFrom: number | null = null;
  private maxTo: number | null = null;
  private successes = 0;
  private outages = 0;
  private outageMs = 0;
  private readonly failures: Partial<Record<FailureKind, { count: number; first: number; last: number; sample: string }>> = {};
  private ref: number;

  constructor(readonly start: number) {
    this.ref = start;
    // The window's start counts as a success: a probe that never succeeds reports the whole window as a gap.
    this.last = start;
  }

  success(t: number): void {
    if (this.last !== null && t - this.last >= OUTAGE_MS) {
      this.outages++;
      this.outageMs += t - this.last;
    }
    if (this.last !== null && t - this.last > this.maxGap) {
      this.maxGap = t - this.last;
      this.maxFrom = this.last;
      this.maxTo = t;
    }
    this.last = t;
    this.successes++;
  }

  /** Anchors the report's relative times (the kill). */
  setReference(t: number): void {
    this.ref = t;
  }

  failure(t: number, kind: FailureKind, message: string): void {
    const f = this.failures[kind];
    if (f) {
      f.count++;
      f.last = t;
    } else {
      this.failures[kind] = { count: 1, first: t, last: t, sample: message };
    }
  }

  /** The time of the last success, or null before the first. */
  lastSuccess(): number | null {
    return this.successes > 0 ? this.last : null;
  }

  report(name: string, op: 'write' | 'read', end: number, connections: number): ProbeReport {
    let gap = this.maxGap;
    let from = this.maxFrom;
    let to = this.maxTo;
    let open = false;
    let outages = this.outages;
    let outageMs = this.outageMs;
    if (this.last !== null && end - this.last >= OUTAGE_MS) {
      outages++;
      outageMs += end - this.last;
    }
    if (this.last !== null && end - this.last > gap) {
      gap = end - this.last;
      from = this.last;
      to = null;
      open = true;
    }
    const rel = (t: number | null) => (t === null ? null : round1(t - this.ref));
    const failures: Partial<Record<FailureKind, FailureStats>> = {};
    for (const k of FAILURE_KINDS) {
      const f = this.failures[k];
      if (f) failures[k] = { count: f.count, firstMs: rel(f.first)!, lastMs: rel(f.last)!, sample: f.sample };
    }
    return {
      name,
      op,
      successes: this.successes,
      longestGapMs: round1(gap),
      gapFromMs: rel(from),
      gapToMs: rel(to),
      open,
      outages,
      outageMs: round1(outageMs),
      failures,
      connections,
      windowMs: round1(end - this.start),
    };
  }
}

const round1 = (n: number) => Math.round(n * 10) / 10;

/** One connection of a probe: `run` sends the probe's command once. */
export interface ProbeConnection {
  run(): Promise<unknown>;
  close(): void;
}

export interface ProbeOptions {
  name: string;
  op: 'write' | 'read';
  connect: () => ProbeConnection;
  /** Pause after a failure before the next try, so a refusing peer is not spun on (ms). Default 2. */
  retryPauseMs?: number;
  now?: () => number;
}

/** A probe loop. `start()` runs it until `stop()`, which returns the report. */
export class ClientProbe {
  private conn: ProbeConnection | null = null;
  private connections = 0;
  private running: Promise<void> | null = null;
  private stopped = false;
  private tracker: GapTracker | null = null;
  private readonly now: () => number;
  private readonly waiters = new Set<() => void>();

  constructor(private readonly opts: ProbeOptions) {
    this.now = opts.now ?? (() => performance.now());
  }

  get name(): string {
    return this.opts.name;
  }

  start(): void {
    if (this.running) return;
    this.tracker = new GapTracker(this.now());
    this.running = this.loop();
  }

  /** Anchors the report's relative times (the moment of the kill). */
  markReference(t = this.now()): void {
    this.tracker!.setReference(t);
  }

  /** The time of the last success, or null. */
  lastSuccess(): number | null {
    return this.tracker?.lastSuccess() ?? null;
  }

  /** Resolves true once a success at or after `t` is recorded, false after `timeoutMs`. */
  waitSuccessAfter(t: number, timeoutMs: number): Promise<boolean> {
    const ok = () => (this.lastSuccess() ?? -Infinity) >= t;
    if (ok()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (!ok()) return;
        cleanup();
        resolve(true);
      };
      const timer = setTimeout(() => {
        cleanup();
        resolve(ok());
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  async stop(): Promise<ProbeReport> {
    this.stopped = true;
    await this.running;
    this.conn?.close();
    this.conn = null;
    return this.tracker!.report(this.opts.name, this.opts.op, this.now(), this.connections);
  }

  private async loop(): Promise<void> {
    const pause = this.opts.retryPauseMs ?? 2;
    while (!this.stopped) {
      if (this.conn === null) {
        this.conn = this.opts.connect();
        this.connections++;
      }
      try {
        await this.conn.run();
        this.tracker!.success(this.now());
        for (const w of [...this.waiters]) w();
      } catch (e) {
        const kind = classifyFailure(e);
        this.tracker!.failure(this.now(), kind, (e as Error)?.message ?? String(e));
        // A dropped or stuck connection is replaced at once; an error reply leaves the connection usable.
        if (kind === 'connection' || kind === 'timeout') {
          this.conn.close();
          this.conn = null;
        }
        if (pause > 0) await new Promise((r) => setTimeout(r, pause));
      }
    }
  }
}

/**
 * A probe through the proxy on one key: SET key <counter> for writes, GET key for reads. Each connection is a
 * redisClient (no ready check, no CLIENT SETINFO: nutcracker rejects both) with no reconnect of its own.
 */
export function proxyProbe(opts: {
  proxy: string;
  password: string | null;
  key: string;
  op: 'write' | 'read';
  name?: string;
  timeoutMs?: number;
  retryPauseMs?: number;
}): ClientProbe {
  let n = 0;
  return new ClientProbe({
    name: opts.name ?? `${opts.op} ${opts.key}`,
    op: opts.op,
    ...(opts.retryPauseMs !== undefined ? { retryPauseMs: opts.retryPauseMs } : {}),
    connect: () => {
      const c: Redis = redisClient(opts.proxy, opts.password, { timeoutMs: opts.timeoutMs ?? 200 });
      return {
        run: () => (opts.op === 'write' ? c.set(opts.key, String(++n)) : c.get(opts.key)),
        close: () => c.disconnect(),
      };
    },
  });
}
