/**
 * Two things `status` tells about what clients see, beyond health: connections the proxy closed over
 * commands it does not support (from nutcracker's log), and keys spread unlike the ring predicts. Both are
 * warnings: the stack works, but a client or a key naming scheme does not fit it.
 */
import type { ProxyRejections } from '../runtime/index.js';

export const CLIENTS_DOC = 'docs/clients.md';

/** What usually sends each command while connecting, and the client setting that stops it. */
const CAUSES: Record<string, string> = {
  HELLO: 'a RESP3 client (redis-py 5+ and go-redis 9 by default): set protocol 2',
  CLIENT: 'a client naming itself on connect (CLIENT SETINFO/SETNAME): turn client info off',
  INFO: "a client's ready check (ioredis): enableReadyCheck false",
  SELECT: 'a database number other than 0 in the client settings: twemproxy serves db 0 only',
  ECHO: 'a health check by ECHO: use PING',
  AUTH: 'a user name with the password (AUTH user pass): give the password alone',
  COMMAND: 'a client asking COMMAND with arguments (COMMAND DOCS/INFO): turn that feature off',
};

export interface ClientRejectionsReport extends ProxyRejections {
  windowMinutes: number;
  commands: Array<ProxyRejections['commands'][number] & { cause?: string }>;
  fix: string;
}

export function clientRejections(r: ProxyRejections, windowMs: number): ClientRejectionsReport {
  return {
    ...r,
    windowMinutes: windowMs / 60_000,
    commands: r.commands.map((c) => (CAUSES[c.command] ? { ...c, cause: CAUSES[c.command]! } : c)),
    fix: CLIENTS_DOC,
  };
}

export function rejectionsWarning(r: ClientRejectionsReport): string | null {
  if (r.connectionsClosed === 0) return null;
  const list = r.commands
    .slice(0, 5)
    .map((c) => `${c.command} x${c.count}${c.cause ? ` (${c.cause})` : ''}`)
    .join(', ');
  return `the proxy closed ${r.connectionsClosed} client connection${r.connectionsClosed === 1 ? '' : 's'} in the last ${r.windowMinutes} min over commands it does not support: ${list}; client settings that work: ${r.fix}`;
}

/** Hashes whose spread over keys that differ only in a counter measured poorly (docs/hashring.md). */
const POOR_ON_COUNTERS = new Set(['fnv1a_64', 'fnv1_64', 'fnv1_32', 'crc32', 'crc16']);

/**
 * A warning when the masters' key counts stray from the ring's prediction by more than chance explains: more
 * than 5 standard deviations of a binomial split and more than 5 points, with at least 500 keys.
 */
export function balanceWarning(
  shards: Array<{ name: string; keys: number | null; keyShare: number | null; predictedShare: number | null }>,
  hash: string,
): string | null {
  const total = shards.reduce((a, s) => a + (s.keys ?? 0), 0);
  if (total < 500 || shards.some((s) => s.keyShare === null || s.predictedShare === null)) return null;
  const off = shards.filter((s) => {
    const p = s.predictedShare!;
    const sigma = Math.sqrt((p * (1 - p)) / total);
    const d = Math.abs(s.keyShare! - p);
    return d > 5 * sigma && d > 0.05;
  });
  if (off.length === 0) return null;
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const split = shards.map((s) => `${s.name} ${pct(s.keyShare!)} (ring ${pct(s.predictedShare!)})`).join(', ');
  const why = POOR_ON_COUNTERS.has(hash)
    ? `hash ${hash} spreads keys that share a prefix and differ in a counter (session-00000001, key:1, ...) unevenly; murmur does not (docs/hashring.md). Changing the hash moves keys: a reshard`
    : 'hash tags that group many keys, or keys written to a master directly (not through the proxy), are the usual causes';
  return `keys are split ${split} across ${total} keys, further from the ring's prediction than chance explains: ${why}`;
}
