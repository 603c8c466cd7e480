/**
 * The one retry policy of the agent: given how many attempts failed in a row and the last cause, how long to
 * wait before the next one, or 'stop'. Loops apply it; call sites never sleep-and-retry on their own.
 * Modelled on node-redis's socket reconnect strategy and sample-controller's rate-limited queue.
 */
export type RetryPolicy = (attempt: number, cause: unknown) => number | 'stop';

export interface BackoffOptions {
  /** Delay after the first failure. */
  baseMs: number;
  /** No delay is ever longer than this. */
  capMs: number;
  /** Fraction of the delay that is randomised (0..1): 0.2 gives delay * [0.8, 1.0]. Spreads reconnect storms. */
  jitter?: number;
  /** Give up after this many attempts (default: never). */
  maxAttempts?: number;
  /** Causes that retrying cannot fix (bad input, not ours): the policy answers 'stop' for them at once. */
  isPermanent?: (cause: unknown) => boolean;
  /** Injected for tests. */
  random?: () => number;
}

/** Exponential backoff with jitter and a cap: base * 2^(attempt-1), at most capMs. `attempt` counts from 1. */
export function exponentialBackoff(opts: BackoffOptions): RetryPolicy {
  const jitter = Math.min(Math.max(opts.jitter ?? 0.2, 0), 1);
  const random = opts.random ?? Math.random;
  return (attempt, cause) => {
    if (opts.isPermanent?.(cause)) return 'stop';
    if (opts.maxAttempts !== undefined && attempt > opts.maxAttempts) return 'stop';
    const n = Math.max(1, Math.floor(attempt));
    // 2 ** 40 is already far past any cap; clamping the exponent keeps the arithmetic finite.
    const raw = Math.min(opts.capMs, opts.baseMs * 2 ** Math.min(n - 1, 40));
    return Math.max(0, Math.round(raw * (1 - jitter * random())));
  };
}

/** Sentinel connections: quick first retries (a restarted sentinel is back within a second), then 2 s. */
export const SENTINEL_RECONNECT: RetryPolicy = exponentialBackoff({ baseMs: 50, capMs: 2000, jitter: 0.2 });

/** Failed applies (nutcracker would not start, exec command failed): retried, never faster than 100 ms. */
export const APPLY_RETRY: RetryPolicy = exponentialBackoff({ baseMs: 100, capMs: 5000, jitter: 0.2 });
