/** One server of a nutcracker.yml pool, as nc_conf.c reads it. */
export interface ServerLine {
  /** host:port (or /path of a unix socket) as written. */
  addr: string;
  weight: number;
  /** The name after the space; absent when the line has none (the ring then hashes the address). */
  name?: string;
  /** The line as written. */
  line: string;
}

/**
 * Parses `host:port:weight [name]` or `/path/to/socket:weight [name]` the way nc_conf.c does: from the end,
 * the name after the last space, then the weight after the last colon, then the port.
 * Returns an error text instead of throwing so the caller can name the line.
 */
export function parseServerLine(line: string): ServerLine | string {
  let rest = line;
  let name: string | undefined;
  const space = rest.lastIndexOf(' ');
  if (space >= 0) {
    name = rest.slice(space + 1);
    rest = rest.slice(0, space);
    if (name === '') return 'the name after the space is empty';
  }
  const wColon = rest.lastIndexOf(':');
  if (wColon < 0) return 'expected "host:port:weight [name]"';
  const weightText = rest.slice(wColon + 1);
  const addr = rest.slice(0, wColon);
  if (!/^[0-9]+$/.test(weightText)) return `weight "${weightText}" is not a whole number`;
  const weight = Number(weightText);
  if (weight < 1) return 'weight must be at least 1';
  if (!addr.startsWith('/')) {
    const pColon = addr.lastIndexOf(':');
    if (pColon < 0) return 'expected "host:port:weight [name]"';
    const portText = addr.slice(pColon + 1);
    if (!/^[0-9]+$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      return `port "${portText}" is not a port number`;
    }
    if (pColon === 0) return 'the host is empty';
  }
  return name === undefined ? { addr, weight, line } : { addr, weight, name, line };
}
