import { Redis } from 'ioredis';
import { askShards, describeFailure } from '../engine/index.js';
import { mustParseAddress } from '../topology/index.js';
import type { SentinelAnswer } from './analyze.js';
import type { RetryPolicy } from './retry.js';

export interface SentinelLinkHandlers {
  /** A published event (pmessage): channel is the event type. */
  onMessage(sentinel: string, channel: string, message: string): void;
  /** The subscription is (re)established: a reconcile should run, events may have been missed. */
  onConnected(sentinel: string): void;
  onLost(sentinel: string, error: string): void;
}

/**
 * Two connections to one sentinel: a subscriber (psubscribe '*': every event is a trigger) and a command
 * connection for the reconcile's questions. Both reconnect forever under the given policy; commands never
 * queue while disconnected (enableOfflineQueue false), so a dead sentinel answers "error" at once instead
 * of stalling the reconcile.
 */
export class SentinelLink {
  private readonly sub: Redis;
  private readonly cmd: Redis;
  private up = false;
  private lastError = 'not connected yet';
  private closed = false;

  constructor(
    readonly addr: string,
    password: string | null,
    private readonly handlers: SentinelLinkHandlers,
    policy: RetryPolicy,
    private readonly timeoutMs = 300,
  ) {
    const { host, port } = mustParseAddress(addr);
    const base = {
      host,
      port,
      password: password ?? undefined,
      lazyConnect: true,
      enableReadyCheck: false,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: timeoutMs,
      // After close(), a peer that does not close its end would keep ioredis's 2 s force-close timer alive.
      disconnectTimeout: timeoutMs,
      autoResubscribe: false,
      retryStrategy: (times: number) => {
        const d = policy(times, this.lastError);
        return d === 'stop' ? null : d;
      },
    };
    this.cmd = new Redis({ ...base, commandTimeout: timeoutMs });
    // No commandTimeout on the subscriber: it waits for messages indefinitely by design.
    this.sub = new Redis(base);
    for (const c of [this.cmd, this.sub]) c.on('error', (e: Error) => (this.lastError = e.message));
    this.sub.on('ready', () => {
      // Subscribing on every ready (autoResubscribe off) so a reconnect always comes back subscribed.
      this.sub.psubscribe('*').then(
        () => {
          this.up = true;
          this.handlers.onConnected(this.addr);
        },
        (e: Error) => {
          this.lastError = e.message;
          this.sub.disconnect(true);
        },
      );
    });
    this.sub.on('pmessage', (_pattern: string, channel: string, message: string) => this.handlers.onMessage(this.addr, channel, message));
    this.sub.on('close', () => {
      if (this.up && !this.closed) this.handlers.onLost(this.addr, this.lastError);
      this.up = false;
    });
  }

  get connected(): boolean {
    return this.up;
  }

  start(): void {
    this.cmd.connect().catch(() => {});
    this.sub.connect().catch(() => {});
  }

  /** One answer per shard name; never throws. */
  async query(shards: string[]): Promise<Map<string, SentinelAnswer>> {
    const out = new Map<string, SentinelAnswer>();
    if (this.cmd.status !== 'ready') {
      for (const name of shards) out.set(name, { sentinel: this.addr, ok: false, error: `not connected (${this.lastError})` });
      return out;
    }
    // The same question and parsers as every other caller (engine/sentinel-query.ts), over this long-lived link.
    const answers = await askShards((...args) => this.cmd.call(args[0]!, ...args.slice(1)), shards);
    for (const name of shards) {
      const a = answers[name]!;
      out.set(
        name,
        a.ok
          ? { sentinel: this.addr, ok: true, addr: a.addr, epoch: a.epoch, failoverInProgress: a.failoverInProgress }
          : { sentinel: this.addr, ok: false, error: describeFailure(a.failure) },
      );
    }
    // A sentinel that stops answering on an open connection is behind a network cut (a dead one refuses or
    // resets). Its TCP connections would resume only at the next retransmission, seconds after the network is
    // back; fresh ones (reconnected with the usual backoff) answer as soon as it is.
    const timedOut = shards.some((name) => {
      const a = answers[name]!;
      return !a.ok && a.failure.kind === 'timeout';
    });
    if (timedOut && !this.closed) {
      this.cmd.disconnect(true);
      this.sub.disconnect(true);
    }
    return out;
  }

  close(): void {
    this.closed = true;
    this.cmd.disconnect();
    this.sub.disconnect();
  }
}
