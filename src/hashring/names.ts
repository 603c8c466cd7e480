/**
 * Server identity on the ring (src/nc_conf.c, conf_add_server): the ring hashes a server's *name*, and a
 * pool's servers are numbered in name order, so both decide where keys go.
 */

/** libmemcached's port: an unnamed server on it is hashed by host alone, for compatibility with it. */
const LIBMEMCACHED_PORT = 11211;

/**
 * The name twemproxy puts on the ring: the explicit name, else the address as written ("host:port"),
 * except that port 11211 is dropped and an unnamed unix socket "/path" becomes "/path:".
 */
export function ringName(addr: string, name?: string): string {
  if (name !== undefined) return name;
  if (addr.startsWith('/')) return `${addr}:`;
  const colon = addr.lastIndexOf(':');
  const port = addr.slice(colon + 1);
  // twemproxy compares the parsed number, so "011211" counts too.
  if (colon > 0 && /^[0-9]+$/.test(port) && Number(port) === LIBMEMCACHED_PORT) return addr.slice(0, colon);
  return addr;
}

/** twemproxy's string_compare: shorter first, then bytewise (unsigned). */
export function compareNames(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return 0;
}
