/**
 * What nutcracker's log says about clients: every request naming a command it does not support closes that
 * client's connection and leaves one line, `nc_redis.c:1324 parsed unsupported command 'hello'` (0.5.0, at
 * its default log level). Wrong argument counts close the connection too but are logged only at -v 6.
 * Pure parsing plus one bounded read of the log's tail, for `status` and the agent's /metrics alike.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export interface RejectedCommand {
  /** Upper-cased, as Redis documents it (nutcracker logs what the client sent). */
  command: string;
  count: number;
  /** When the last one was logged (ISO). */
  lastAt: string;
}

export interface ProxyRejections {
  /** Start of the window (ISO): lines before it are not counted. */
  since: string;
  /** Client connections the proxy closed over an unsupported command, in the window. */
  connectionsClosed: number;
  /** Most frequent first. */
  commands: RejectedCommand[];
}

// [2026-12-01 22:10:52.716] nc_redis.c:1324 parsed unsupported command 'hello'
const LINE = /^\[(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{3})\] \S+ parsed unsupported command '([^']*)'/;

/** Counts the rejections logged at or after `since`. nutcracker writes local time, as this process reads it. */
export function parseRejections(text: string, since: Date): ProxyRejections {
  const by = new Map<string, { count: number; last: number }>();
  let total = 0;
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    const [, y, mo, d, h, mi, s, ms, cmd] = m;
    const t = new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), Number(ms)).getTime();
    if (t < since.getTime()) continue;
    const name = cmd!.toUpperCase();
    const e = by.get(name) ?? { count: 0, last: 0 };
    e.count++;
    e.last = Math.max(e.last, t);
    by.set(name, e);
    total++;
  }
  const commands = [...by.entries()]
    .map(([command, e]) => ({ command, count: e.count, lastAt: new Date(e.last).toISOString() }))
    .sort((a, b) => b.count - a.count || a.command.localeCompare(b.command));
  return { since: since.toISOString(), connectionsClosed: total, commands };
}

/**
 * The rejections in the last `windowMs` from nutcracker's log file, reading at most its last `maxBytes`
 * (a busy proxy's log can be large; the window is recent by definition). null when the file does not exist.
 */
export function readRejections(logFile: string, opts: { windowMs: number; now?: Date; maxBytes?: number }): ProxyRejections | null {
  const now = opts.now ?? new Date();
  const maxBytes = opts.maxBytes ?? 4 * 1024 * 1024;
  let fd: number;
  try {
    fd = openSync(logFile, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(0, size - maxBytes);
    const buf = Buffer.alloc(size - start);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, start + off);
      if (n === 0) break;
      off += n;
    }
    return parseRejections(buf.subarray(0, off).toString('utf8'), new Date(now.getTime() - opts.windowMs));
  } finally {
    closeSync(fd);
  }
}
