import type { RetryPolicy } from './retry.js';

export interface StreakFailure {
  /** Failures in this streak so far, this one included. */
  attempt: number;
  /** How long to hold off before trying again. */
  delayMs: number;
  /**
   * Whether to report this one: the first failure of a streak, or one where what fails (the key) changed.
   * The rest are the same failure again: counted, not logged (a retry every few seconds must not flood the log).
   */
  report: boolean;
}

/**
 * Failures of one kind of attempt (an apply, starting a process), retried on a backoff and reported once.
 * A streak ends at a success, or after `quietMs` with no failure (the thing stopped being tried: a rolled-back
 * config serves, nothing is left to retry); a failure after that starts a new streak, reported again.
 */
export class FailureStreak {
  private failures = 0;
  private firstAt = 0;
  private lastAt = 0;
  private notBefore = 0;
  private key: string | null = null;

  constructor(
    private readonly retry: RetryPolicy,
    /** The hold-off when the policy says 'stop' (the agent never stops trying). */
    private readonly stopDelayMs: number,
    private readonly quietMs = 60_000,
  ) {}

  get count(): number {
    return this.failures;
  }

  /** Whether the last failure's hold-off is still running. */
  get holdingOff(): boolean {
    return Date.now() < this.notBefore;
  }

  /** ms until the hold-off ends (0 when none). */
  get holdOffLeftMs(): number {
    return Math.max(0, this.notBefore - Date.now());
  }

  failed(cause: unknown, key = ''): StreakFailure {
    const now = Date.now();
    if (this.failures > 0 && now - this.lastAt > this.quietMs) this.reset();
    this.failures++;
    if (this.failures === 1) this.firstAt = now;
    this.lastAt = now;
    const report = this.failures === 1 || key !== this.key;
    this.key = key;
    const d = this.retry(this.failures, cause);
    const delayMs = d === 'stop' ? this.stopDelayMs : d;
    this.notBefore = now + delayMs;
    return { attempt: this.failures, delayMs, report };
  }

  /** A success: the streak it ends, if any (for one "works again" line). */
  succeeded(): { failures: number; sinceMs: number } | null {
    const ended = this.failures > 0 && Date.now() - this.lastAt <= this.quietMs ? { failures: this.failures, sinceMs: Date.now() - this.firstAt } : null;
    this.reset();
    return ended;
  }

  private reset(): void {
    this.failures = 0;
    this.notBefore = 0;
    this.key = null;
  }
}
