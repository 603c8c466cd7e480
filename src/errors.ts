/**
 * The kinds of failure redis-shard distinguishes. The CLI maps each to an exit code; loops use the kind to
 * decide whether to retry. The original error, when there is one, is kept as `cause`.
 */

/** Bad input from the user (a file, a field, an argument): reported once, never retried. Exit code 2. */
export class InvalidInputError extends Error {
  override name = 'InvalidInputError';
  readonly exitCode = 2;
}

/** A peer failed or timed out; trying again later may succeed. Exit code 1. */
export class TransientError extends Error {
  override name = 'TransientError';
  readonly exitCode = 1;
}

/** Something on this machine is not as redis-shard needs it (missing binary, port held by a stranger). Exit 3. */
export class EnvironmentError extends Error {
  override name = 'EnvironmentError';
  readonly exitCode = 3;
}

/** The stack is running but unhealthy, or a check found a fault (lost keys, disagreement). Exit code 4. */
export class CheckFailedError extends Error {
  override name = 'CheckFailedError';
  readonly exitCode = 4;
}

export type KnownError = InvalidInputError | TransientError | EnvironmentError | CheckFailedError;

export function isKnownError(e: unknown): e is KnownError {
  return (
    e instanceof InvalidInputError ||
    e instanceof TransientError ||
    e instanceof EnvironmentError ||
    e instanceof CheckFailedError
  );
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
