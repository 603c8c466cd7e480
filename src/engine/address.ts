import { isIP } from 'node:net';

/** Addresses as engines send them: every field is untrusted until it passes these. */

const HOSTNAME_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** An IP literal (v4 or v6) or a DNS name; nothing else (no spaces, no shell characters, no empty string). */
export function isHost(text: string): boolean {
  if (text.length === 0 || text.length > 253) return false;
  if (isIP(text) !== 0) return true;
  // All digits and dots is meant as an IPv4 address; when it is not a valid one, it is not a name either.
  return !/^[0-9.]+$/.test(text) && HOSTNAME_RE.test(text);
}

/** A decimal port 1-65535 with no sign, no spaces, no leading zeros beyond "0" itself being invalid. */
export function parsePort(text: string): number | null {
  if (!/^[1-9][0-9]{0,4}$/.test(text)) return null;
  const n = Number(text);
  return n <= 65535 ? n : null;
}

/** host + port as the description writes them: `host:port`, IPv6 in brackets. */
export function joinAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** host + port from two untrusted strings, or an error text. */
export function addressFrom(host: unknown, port: unknown): string | { error: string } {
  if (typeof host !== 'string' || !isHost(host)) return { error: `"${String(host).slice(0, 60)}" is not an IP address or host name` };
  const p = typeof port === 'string' ? parsePort(port) : null;
  if (p === null) return { error: `"${String(port).slice(0, 20)}" is not a port (1-65535)` };
  return joinAddress(host, p);
}

/** Sentinel master names we accept: the shard-name rule of the description. */
export function isName(text: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(text);
}
