/**
 * Who holds a TCP port on this machine. Used by doctor to tell our own processes from strangers and to name
 * the stranger, so the operator knows what to stop.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';

export { tryBind, type BindResult } from '../runtime/index.js';

/**
 * What `ss -tanp` says holds the port: a listener first, else a connection using it as its local port (an
 * outgoing connection that got it from the ephemeral range). Null when ss is missing or names nobody
 * (ss shows other users' processes only to root).
 */
export async function portHolder(port: number): Promise<string | null> {
  const listening = await ss(['-ltnpH', `sport = :${port}`]);
  const l = listening !== null ? describeSsLines(listening) : null;
  if (l) return `${l}, listening`;
  const connected = await ss(['-tnpH', `sport = :${port}`]);
  const c = connected !== null ? describeSsLines(connected) : null;
  return c ? `${c}, by an outgoing connection that got it as its local port` : null;
}

function ss(args: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('ss', args, { timeout: 3000 }, (err, stdout) => resolve(err ? null : String(stdout)));
  });
}

/** `users:(("redis-server",pid=123,fd=6))` -> `redis-server (pid 123)`; several, joined. Pure, for unit tests. */
export function describeSsLines(text: string): string | null {
  const found = new Set<string>();
  for (const m of text.matchAll(/\("([^"]+)",pid=([0-9]+)/g)) found.add(`${m[1]} (pid ${m[2]})`);
  return found.size > 0 ? [...found].join(', ') : null;
}

/** net.ipv4.ip_local_port_range: ports the kernel hands to outgoing connections. Null when unknown. */
export function ephemeralPortRange(): [number, number] | null {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return lo !== undefined && hi !== undefined && Number.isInteger(lo) && Number.isInteger(hi) ? [lo, hi] : null;
  } catch {
    return null;
  }
}

/** net.ipv4.ip_local_reserved_ports (e.g. "22121,26379-26381"): ports the kernel never hands out. */
export function reservedPorts(): Array<[number, number]> {
  try {
    return parsePortList(readFileSync('/proc/sys/net/ipv4/ip_local_reserved_ports', 'utf8'));
  } catch {
    return [];
  }
}

export function parsePortList(text: string): Array<[number, number]> {
  return text
    .trim()
    .split(',')
    .filter(Boolean)
    .map((part) => {
      const [a, b] = part.split('-').map(Number);
      return [a!, b ?? a!] as [number, number];
    })
    .filter(([a, b]) => Number.isInteger(a) && Number.isInteger(b));
}
