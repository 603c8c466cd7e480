import type { Redis } from 'ioredis';
import { withClient } from '../runtime/index.js';

/**
 * withClient for probes: connects first and, when the connection fails, throws the socket's own error
 * (ECONNREFUSED, ETIMEDOUT...) rather than ioredis' generic "Connection is closed", so a status cell can say why.
 */
export async function probe<T>(addr: string, password: string | null, timeoutMs: number, fn: (c: Redis) => Promise<T>): Promise<T> {
  let socketError: Error | null = null;
  return withClient(
    addr,
    password,
    async (c) => {
      c.on('error', (e: Error) => (socketError = e));
      try {
        await c.connect();
      } catch (e) {
        throw socketError ?? e;
      }
      return fn(c);
    },
    { timeoutMs },
  );
}

/** The first line of an error, without ioredis' noise, for a table cell. */
export function shortError(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  if (/ECONNREFUSED/.test(m)) return 'connection refused';
  if (/NOAUTH|WRONGPASS|invalid password|invalid username-password/i.test(m)) return 'refuses our password; check auth in the description';
  if (/ETIMEDOUT|timed? ?out/i.test(m)) return 'timed out';
  if (/Connection is closed/.test(m)) return 'connection closed';
  return m.split('\n')[0]!.slice(0, 120);
}
