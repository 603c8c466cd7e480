import { quote } from './quote.js';

/**
 * The lines every Redis and Sentinel process gets: where it listens, where its files are, in the foreground.
 * Connections it opens (to a master, to other sentinels) leave from the described address too, so peers see it
 * as described even on a host with several addresses (Sentinel learns addresses from the socket).
 */
export function processLines(host: string, port: number, paths: { pid: string; log: string; dir: string }): string[] {
  return [
    '# Bind only the address the description gives; with an explicit bind, protected mode adds nothing.',
    `bind ${host}`,
    `port ${port}`,
    `bind-source-addr ${host}`,
    'protected-mode no',
    'daemonize no',
    `pidfile ${quote(paths.pid)}`,
    `logfile ${quote(paths.log)}`,
    `dir ${quote(paths.dir)}`,
  ];
}
