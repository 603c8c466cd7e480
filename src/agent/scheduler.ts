import { FailureStreak, type StreakFailure } from './failure-streak.js';
import type { RetryPolicy } from './retry.js';

export interface SchedulerOptions {
  /** The pass: resolves whether another should follow soon (a shard is mid-change). */
  pass: () => Promise<boolean>;
  /** A pass that throws: reported here, and treated as "soon". */
  onError: (e: Error) => void;
  /** After every pass, with the count so far. */
  onPassEnd?: (passes: number) => void;
  /** The longest wait between passes. */
  intervalMs: number;
  /** The wait while a pass asks for "soon". */
  soonMs: number;
  /** "Soon" passes in a row before falling back to intervalMs. */
  maxSoonStreak: number;
  /** How long to hold off after the n-th failure in a row ('stop': intervalMs). */
  retry: RetryPolicy;
}

/**
 * When the reconcile pass runs: at most one at a time; a trigger during a pass makes exactly one more right after
 * it (triggers coalesce); otherwise the next pass comes `soonMs` after one that asked for it, `intervalMs` after
 * one that did not. Failures (`failed`) set a hold-off from the retry policy (failure-streak.ts) that the pass
 * consults and that delays the next scheduled pass. Nothing runs before `start()` or after `stop()`.
 */
export class PassScheduler {
  private started = false;
  private stopped = false;
  private inFlight = false;
  private rerun = false;
  private timer: NodeJS.Timeout | null = null;
  private soonStreak = 0;
  private readonly failures: FailureStreak;
  private count = 0;
  private passDone: Promise<void> = Promise.resolve();
  private readonly first: { promise: Promise<void>; resolve: () => void };

  constructor(private readonly o: SchedulerOptions) {
    this.failures = new FailureStreak(o.retry, o.intervalMs);
    let resolve!: () => void;
    this.first = { promise: new Promise<void>((r) => (resolve = r)), resolve };
  }

  get passes(): number {
    return this.count;
  }

  get running(): boolean {
    return this.inFlight;
  }

  /** Resolves after the first pass has ended. */
  get firstPass(): Promise<void> {
    return this.first.promise;
  }

  /** Consecutive failures so far (0 after a success). */
  get failureCount(): number {
    return this.failures.count;
  }

  /** Whether a failure's hold-off is still running: the pass should not retry what failed yet. */
  get holdingOff(): boolean {
    return this.failures.holdingOff;
  }

  /** Allows passes, and runs the first. */
  start(): void {
    if (this.stopped) return;
    this.started = true;
    this.trigger();
  }

  /** Runs a pass now, or right after the one in flight. */
  trigger(): void {
    if (this.stopped || !this.started) return;
    if (this.inFlight) {
      this.rerun = true;
      return;
    }
    this.schedule(0);
  }

  /** Records a failure of what the pass tried (`key` names it): the hold-off it set, and whether to report it. */
  failed(cause: unknown, key = ''): StreakFailure {
    return this.failures.failed(cause, key);
  }

  /** What failed works now: the failure streak this ends, if any. */
  succeeded(): { failures: number; sinceMs: number } | null {
    return this.failures.succeeded();
  }

  /**
   * No pass starts after this; the pass in flight and `alsoWaitFor` (an apply) finish first, bounded by boundMs.
   * The bound's own timer is cleared, so nothing of the scheduler outlives stop().
   */
  async stop(alsoWaitFor: Promise<unknown> = Promise.resolve(), boundMs = 5000): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    let bound: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([this.passDone, alsoWaitFor]),
      new Promise((r) => {
        bound = setTimeout(r, boundMs);
      }),
    ]);
    clearTimeout(bound);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.loop(), ms);
  }

  private async loop(): Promise<void> {
    this.timer = null;
    if (this.inFlight || this.stopped) return;
    this.inFlight = true;
    let ended!: () => void;
    this.passDone = new Promise((r) => (ended = r));
    let soon = false;
    try {
      do {
        this.rerun = false;
        try {
          soon = await this.o.pass();
        } catch (e) {
          this.o.onError(e as Error);
          soon = true;
        }
        this.count++;
        if (this.count === 1) this.first.resolve();
        this.o.onPassEnd?.(this.count);
      } while (this.rerun && !this.stopped);
    } finally {
      this.inFlight = false;
      ended();
    }
    // Quick re-checks while a shard is mid-change, but not forever: a hold that outlasts the streak (a master the
    // sentinels name but that stays down) falls back to the normal interval.
    this.soonStreak = soon ? this.soonStreak + 1 : 0;
    const quick = soon && this.soonStreak <= this.o.maxSoonStreak;
    const wait = Math.max(quick ? this.o.soonMs : this.o.intervalMs, this.failures.holdOffLeftMs);
    this.schedule(Math.min(wait, this.o.intervalMs));
  }
}
