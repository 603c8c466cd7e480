/** A `host:port` address. IPv6 hosts are written in brackets: `[::1]:6379`. */
export interface Address {
  host: string;
  port: number;
}

const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)$/;
const IPV6_RE = /^[0-9A-Fa-f:.]+$/;

/** Parses `host:port`; returns an error text instead of throwing so callers can name the field. */
export function parseAddress(text: string): Address | string {
  if (typeof text !== 'string') return 'expected a "host:port" string';
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0 || text[end + 1] !== ':') return `expected "[ipv6]:port", got "${text}"`;
    host = text.slice(1, end);
    portText = text.slice(end + 2);
    if (!IPV6_RE.test(host) || !host.includes(':')) return `"${host}" is not an IPv6 address`;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon <= 0) return `expected "host:port", got "${text}"`;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (!HOST_RE.test(host)) return `"${host}" is not a valid host name or IPv4 address`;
  }
  if (!/^[0-9]{1,5}$/.test(portText)) return `port "${portText}" is not a number`;
  const port = Number(portText);
  if (port < 1 || port > 65535) return `port ${port} is outside 1-65535`;
  return { host, port };
}

export function mustParseAddress(text: string): Address {
  const a = parseAddress(text);
  if (typeof a === 'string') throw new Error(a);
  return a;
}

export function formatAddress(a: Address): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** A name safe to use in file names: `127.0.0.1:6666` -> `127.0.0.1_6666`. */
export function addressSlug(addr: string): string {
  return addr.replace(/[[\]]/g, '').replace(/:/g, '_');
}
