import { isIP } from 'node:net';

/**
 * Pure parsers for what sentinels say: command replies and published events. Everything a sentinel sends is
 * treated as untrusted input: a reply or event that is not exactly the expected shape becomes an error text,
 * never an exception and never a half-parsed value.
 */

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

/** SENTINEL GET-MASTER-ADDR-BY-NAME: `[ip, port]`. A nil reply means the sentinel does not monitor that name. */
export function parseMasterAddrReply(reply: unknown): { addr: string } | { error: string } {
  if (reply === null) return { error: 'the sentinel does not monitor this master name' };
  if (!Array.isArray(reply) || reply.length !== 2) return { error: `expected [ip, port], got ${preview(reply)}` };
  const a = addressFrom(reply[0], reply[1]);
  return typeof a === 'string' ? { addr: a } : a;
}

export interface SentinelMasterInfo {
  /** ip:port this sentinel's master record holds (stays the old address until its own +switch-master). */
  addr: string;
  configEpoch: number;
  flags: string[];
  failoverInProgress: boolean;
  /** Flags say the sentinel itself considers the master down (s_down/o_down). */
  down: boolean;
}

/** SENTINEL MASTER <name>: a flat [key, value, ...] list. */
export function parseSentinelMasterReply(reply: unknown): SentinelMasterInfo | { error: string } {
  if (!Array.isArray(reply) || reply.length % 2 !== 0 || reply.length < 4) {
    return { error: `expected a flat key/value list, got ${preview(reply)}` };
  }
  const kv = new Map<string, string>();
  for (let i = 0; i < reply.length; i += 2) {
    const k = reply[i];
    const v = reply[i + 1];
    if (typeof k !== 'string' || typeof v !== 'string') return { error: `non-string field in reply: ${preview(reply)}` };
    kv.set(k, v);
  }
  const addr = addressFrom(kv.get('ip'), kv.get('port'));
  if (typeof addr !== 'string') return { error: `ip/port: ${addr.error}` };
  const epochText = kv.get('config-epoch');
  if (epochText === undefined || !/^[0-9]{1,18}$/.test(epochText)) return { error: `config-epoch "${String(epochText)}" is not a number` };
  const flagsText = kv.get('flags');
  if (flagsText === undefined || !/^[a-z_,]+$/.test(flagsText)) return { error: `flags "${String(flagsText)}" are not a flag list` };
  const flags = flagsText.split(',');
  if (!flags.includes('master')) return { error: `flags "${flagsText}" do not say master` };
  return {
    addr,
    configEpoch: Number(epochText),
    flags,
    failoverInProgress: flags.includes('failover_in_progress'),
    down: flags.includes('s_down') || flags.includes('o_down'),
  };
}

/** A published sentinel event, parsed. `shard` is the master name the event concerns. */
export type SentinelEvent =
  | { kind: 'switch-master'; type: '+switch-master'; shard: string; from: string; to: string }
  | {
      kind: 'instance';
      type: string;
      /** master | slave | sentinel */
      role: string;
      addr: string;
      shard: string;
      /** The instance's master, for replicas and sentinels (`@ <name> <ip> <port>`); the instance itself for a master. */
      masterAddr: string;
    }
  | { kind: 'other'; type: string; text: string }
  | { kind: 'garbage'; type: string; text: string; why: string };

/**
 * Parses one pmessage: channel = event type, message = payload. Formats (sentinel.c sentinelEvent):
 *   +switch-master: `<name> <old-ip> <old-port> <new-ip> <new-port>`
 *   instance events: `<master|slave|sentinel> <name> <ip> <port> [@ <master-name> <master-ip> <master-port>]`
 *   (+odown adds `#quorum n/m`; replicas are named `ip:port`).
 */
export function parseSentinelEvent(channel: string, message: string): SentinelEvent {
  const text = message.slice(0, 512);
  const garbage = (why: string): SentinelEvent => ({ kind: 'garbage', type: channel, text, why });
  if (!/^[+-][a-z-]{1,40}$/.test(channel)) return { kind: 'other', type: channel, text };
  const w = text.split(' ');
  if (channel === '+switch-master') {
    if (w.length !== 5) return garbage('expected "<name> <old-ip> <old-port> <new-ip> <new-port>"');
    const from = addressFrom(w[1], w[2]);
    const to = addressFrom(w[3], w[4]);
    if (!isName(w[0]!)) return garbage(`"${w[0]}" is not a master name`);
    if (typeof from !== 'string') return garbage(`old address: ${from.error}`);
    if (typeof to !== 'string') return garbage(`new address: ${to.error}`);
    return { kind: 'switch-master', type: channel, shard: w[0]!, from, to };
  }
  const role = w[0];
  if (role !== 'master' && role !== 'slave' && role !== 'sentinel') return { kind: 'other', type: channel, text };
  if (w.length < 4) return garbage('expected "<type> <name> <ip> <port> ..."');
  const addr = addressFrom(w[2], w[3]);
  if (typeof addr !== 'string') return garbage(addr.error);
  if (role === 'master') {
    if (!isName(w[1]!)) return garbage(`"${w[1]}" is not a master name`);
    return { kind: 'instance', type: channel, role, addr, shard: w[1]!, masterAddr: addr };
  }
  if (w[4] !== '@' || w.length < 8) return garbage('expected "@ <master> <ip> <port>" after a replica or sentinel');
  const mAddr = addressFrom(w[6], w[7]);
  if (!isName(w[5]!)) return garbage(`"${w[5]}" is not a master name`);
  if (typeof mAddr !== 'string') return garbage(`master address: ${mAddr.error}`);
  return { kind: 'instance', type: channel, role, addr, shard: w[5]!, masterAddr: mAddr };
}

/** Sentinel master names we accept: the shard-name rule of the description. */
export function isName(text: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(text);
}

/** ROLE: `[master, offset, replicas]`, `[slave, ip, port, state, offset]`, `[sentinel, names]`. */
export type RoleInfo = { role: 'master' } | { role: 'slave'; master: string | null; linkState: string } | { role: 'sentinel' } | { role: 'unknown'; text: string };

export function parseRoleReply(reply: unknown): RoleInfo | { error: string } {
  if (!Array.isArray(reply) || reply.length === 0 || typeof reply[0] !== 'string') return { error: `ROLE answered ${preview(reply)}` };
  switch (reply[0]) {
    case 'master':
      return { role: 'master' };
    case 'slave': {
      const m = addressFrom(reply[1], typeof reply[2] === 'number' ? String(reply[2]) : reply[2]);
      return { role: 'slave', master: typeof m === 'string' ? m : null, linkState: typeof reply[3] === 'string' ? reply[3] : '?' };
    }
    case 'sentinel':
      return { role: 'sentinel' };
    default:
      return { role: 'unknown', text: reply[0].slice(0, 40) };
  }
}

function preview(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 120 ? `${s.slice(0, 120)}...` : s;
}
