import { connect, createServer } from 'node:net';
import { TransientError } from '../errors.js';
import { delay } from './process.js';

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** What is awaited, for the timeout message: "127.0.0.1:6666 to accept connections". */
  what: string;
  /** Fails the wait at once when this settles first (e.g. the process exited). */
  abortOn?: Promise<string>;
  /** Fails the wait when aborted (the operator pressed Ctrl-C). */
  signal?: AbortSignal;
}

/** Polls `fn` until it returns a value other than undefined/false, or times out. */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  opts: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let aborted: string | null = null;
  void opts.abortOn?.then((why) => {
    aborted = why;
  });
  let lastError: unknown;
  for (;;) {
    if (aborted !== null) throw new TransientError(`gave up waiting for ${opts.what}: ${aborted}`);
    if (opts.signal?.aborted) throw new TransientError(`interrupted while waiting for ${opts.what}`);
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new TransientError(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}${why}`);
    }
    await delay(opts.intervalMs ?? 50);
  }
}

/** Whether something accepts TCP connections at host:port right now. */
export function portAccepts(host: string, port: number, timeoutMs = 300): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

export type BindResult = { free: true } | { free: false; code: string };

/** Tries to listen on host:port (exclusively) and closes again at once; the error code says why not. */
export function tryBind(host: string, port: number): Promise<BindResult> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', (e: NodeJS.ErrnoException) => resolve({ free: false, code: e.code ?? 'error' }));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve({ free: true })));
  });
}

/** Whether we could listen on host:port right now: nothing else holds it. */
export async function canBind(host: string, port: number): Promise<boolean> {
  return (await tryBind(host, port)).free;
}
