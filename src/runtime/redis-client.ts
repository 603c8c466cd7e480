import { Redis } from 'ioredis';
import { InvalidInputError, TransientError } from '../errors.js';
import { mustParseAddress } from '../topology/index.js';

export interface ClientOptions {
  /** Connect and per-command timeout. */
  timeoutMs?: number;
  /** Keep reconnecting (for long-lived subscribers); by default a failed connection is reported, not retried. */
  reconnect?: boolean;
}

/**
 * An ioredis client suited to talking to engines we supervise: no INFO ready-check (nutcracker rejects INFO),
 * no silent command retries (a failed command must be seen as failed), bounded timeouts.
 */
export function redisClient(addr: string, password: string | null, opts: ClientOptions = {}): Redis {
  const { host, port } = mustParseAddress(addr);
  const timeout = opts.timeoutMs ?? 1000;
  const client = new Redis({
    host,
    port,
    password: password ?? undefined,
    lazyConnect: true,
    enableReadyCheck: false,
    // ioredis sends CLIENT SETINFO on connect; nutcracker rejects CLIENT and would fail every command after it.
    disableClientInfo: true,
    enableOfflineQueue: true,
    maxRetriesPerRequest: 0,
    connectTimeout: timeout,
    commandTimeout: timeout,
    retryStrategy: opts.reconnect ? (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000) : () => null,
  });
  // Errors surface through the command promises; an unhandled 'error' event would crash the process.
  client.on('error', () => {});
  return client;
}

/** Runs `fn` with a short-lived client and always disconnects it. */
export async function withClient<T>(
  addr: string,
  password: string | null,
  fn: (c: Redis) => Promise<T>,
  opts: ClientOptions = {},
): Promise<T> {
  const c = redisClient(addr, password, opts);
  try {
    return await fn(c);
  } finally {
    c.disconnect();
  }
}

/** A refusal of our password (or of having none), told apart from a peer that is down. */
export function isAuthError(e: unknown): boolean {
  return /NOAUTH|WRONGPASS|invalid password|invalid username-password/i.test((e as Error)?.message ?? '');
}

/**
 * Connects and checks the connection with PING. ioredis swallows a failed AUTH (the commands that follow fail
 * with NOAUTH), so without this a wrong password reads as a peer that does not answer.
 */
export async function openClient(addr: string, password: string | null, what: string, opts: ClientOptions = {}): Promise<Redis> {
  const c = redisClient(addr, password, opts);
  try {
    await c.connect();
    await c.ping();
    return c;
  } catch (e) {
    c.disconnect();
    if (isAuthError(e)) {
      throw new InvalidInputError(
        password === null
          ? `${what} ${addr} requires a password, and the description has no auth section`
          : `${what} ${addr} refuses the password from the description's auth setting; check that it is the stack's password`,
        { cause: e },
      );
    }
    throw new TransientError(`${what} ${addr} does not answer (${(e as Error).message}); is the stack up? (redis-shard status)`, { cause: e });
  }
}
