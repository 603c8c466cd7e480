import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { createConnection } from 'node:net';
import { EnvironmentError, InvalidInputError, TransientError } from '../errors.js';
import { haproxyBackend, haproxyServerRef } from '../render/index.js';
import { haproxyPaths, mustParseAddress, type Topology } from '../topology/index.js';

/**
 * HAProxy's runtime API (the admin socket of apply mode "haproxy"): where each shard's traffic goes now,
 * switching it, and fencing it. Changes made here live in HAProxy's memory only; the agent writes the same
 * addresses into haproxy.cfg first, so a restarted HAProxy comes back on them.
 */

/** What HAProxy does with one shard's backend server. */
export interface BackendState {
  /** host:port new connections go to (an IP: HAProxy resolves names once, at start). */
  addr: string;
  /** In maintenance (fenced): no new connection is made to it. */
  maint: boolean;
}

/** Sends one command line to the admin socket and returns HAProxy's answer (it closes after answering). */
export function haproxyCommand(socketPath: string, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(socketPath);
    let out = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new TransientError(`haproxy admin socket ${socketPath}: no answer to "${command}" within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`${command}\n`));
    sock.on('data', (d: string) => (out += d));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new EnvironmentError(`haproxy admin socket ${socketPath}: ${e.code ?? e.message} (is haproxy running?)`, { cause: e }));
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

/** Parses `show servers state` (format 1): backend -> server -> state, by the header's column names. */
export function parseServersState(text: string): Map<string, Map<string, BackendState>> {
  const out = new Map<string, Map<string, BackendState>>();
  let cols: string[] | null = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('# ')) {
      cols = line.slice(2).trim().split(/\s+/);
      continue;
    }
    if (!cols || !line.trim()) continue;
    const f = line.trim().split(/\s+/);
    const get = (name: string) => f[cols!.indexOf(name)];
    const be = get('be_name');
    const srv = get('srv_name');
    const ip = get('srv_addr');
    const port = get('srv_port');
    const admin = Number(get('srv_admin_state'));
    if (!be || !srv || !ip || !port) continue;
    if (!out.has(be)) out.set(be, new Map());
    // Bit 0x01 is "forced maintenance" (set server ... state maint).
    out.get(be)!.set(srv, { addr: `${ip.includes(':') ? `[${ip}]` : ip}:${port}`, maint: (admin & 0x01) !== 0 });
  }
  return out;
}

function socketOf(topo: Topology): string {
  return haproxyPaths(topo.proxyDir).socket;
}

/** Each shard's backend server as HAProxy has it now. Throws when HAProxy does not answer. */
export async function readBackends(topo: Topology): Promise<Record<string, BackendState>> {
  const state = parseServersState(await haproxyCommand(socketOf(topo), 'show servers state'));
  const out: Record<string, BackendState> = {};
  for (const s of topo.shards) {
    const b = state.get(haproxyBackend(s.name))?.get(s.name);
    if (b) out[s.name] = b;
  }
  return out;
}

function shardOrThrow(topo: Topology, shard: string): void {
  if (!topo.shards.some((s) => s.name === shard)) {
    throw new InvalidInputError(`no shard named "${shard}" (shards: ${topo.shards.map((s) => s.name).join(', ')})`);
  }
}

/** host:port with the host as an IP: the runtime API takes only addresses. */
async function numeric(addr: string): Promise<{ ip: string; port: number; text: string }> {
  const { host, port } = mustParseAddress(addr);
  const ip = isIP(host) ? host : (await lookup(host)).address;
  return { ip, port, text: `${ip.includes(':') ? `[${ip}]` : ip}:${port}` };
}

/**
 * Points a shard's backend at `addr` and verifies it by reading the address back. Then closes the sessions
 * still open to the old address: HAProxy keeps an established connection where it was made, so nutcracker's
 * persistent connection would stay on a demoted (read-only) or hung master; closed, nutcracker reconnects
 * through the frontend to the new one. Returns the address HAProxy had before.
 */
export async function switchBackend(topo: Topology, shard: string, addr: string): Promise<{ from: string | null; sessionsClosed: boolean }> {
  shardOrThrow(topo, shard);
  const to = await numeric(addr);
  const sock = socketOf(topo);
  const before = (await readBackends(topo))[shard];
  if (before?.addr === to.text) return { from: before.addr, sessionsClosed: false };
  const ref = haproxyServerRef(shard);
  const reply = await haproxyCommand(sock, `set server ${ref} addr ${to.ip} port ${to.port}`);
  if (!/changed/i.test(reply)) throw new TransientError(`haproxy refused "set server ${ref} addr ${to.ip} port ${to.port}": ${reply.trim()}`);
  const after = (await readBackends(topo))[shard];
  if (after?.addr !== to.text) {
    throw new TransientError(`haproxy reads back ${ref} as ${after?.addr ?? 'missing'} after setting it to ${to.text}`);
  }
  await haproxyCommand(sock, `shutdown sessions server ${ref}`);
  return { from: before?.addr ?? null, sessionsClosed: true };
}

async function setState(topo: Topology, shard: string, state: 'maint' | 'ready'): Promise<void> {
  shardOrThrow(topo, shard);
  const sock = socketOf(topo);
  const ref = haproxyServerRef(shard);
  const reply = (await haproxyCommand(sock, `set server ${ref} state ${state}`)).trim();
  if (reply) throw new TransientError(`haproxy refused "set server ${ref} state ${state}": ${reply}`);
  // In maintenance HAProxy makes no new connection, but keeps the ones it has: close them, or a fenced
  // master would go on receiving writes over nutcracker's persistent connection.
  if (state === 'maint') await haproxyCommand(sock, `shutdown sessions server ${ref}`);
  const now = (await readBackends(topo))[shard];
  if (!now || now.maint !== (state === 'maint')) {
    throw new TransientError(`haproxy reads back ${ref} as ${now ? (now.maint ? 'in maintenance' : 'ready') : 'missing'} after "state ${state}"`);
  }
}

/**
 * Fences one shard: HAProxy stops sending it anything (new connections refused at once, open ones closed),
 * so nutcracker answers errors for that shard's keys while every other shard keeps serving. For partition
 * handling: a master that may be cut off from the majority stops taking writes through the proxy.
 */
export function fenceShard(topo: Topology, shard: string): Promise<void> {
  return setState(topo, shard, 'maint');
}

/** Undoes fenceShard: the shard's backend takes connections again, to whatever address it holds. */
export function unfenceShard(topo: Topology, shard: string): Promise<void> {
  return setState(topo, shard, 'ready');
}
