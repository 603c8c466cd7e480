import { addressFrom, isName } from './address.js';
import { preview } from './preview.js';

/**
 * Pure parsers for what sentinels say: command replies and published events. Everything a sentinel sends is
 * treated as untrusted input: a reply or event that is not exactly the expected shape becomes an error text,
 * never an exception and never a half-parsed value.
 */

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
  /** Replicas and other sentinels this sentinel knows for the master (null when the reply lacks them). */
  replicas: number | null;
  otherSentinels: number | null;
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
    replicas: countField(kv.get('num-slaves')),
    otherSentinels: countField(kv.get('num-other-sentinels')),
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

function countField(text: string | undefined): number | null {
  return text !== undefined && /^[0-9]{1,9}$/.test(text) ? Number(text) : null;
}

/** SENTINEL REPLICAS / SENTINELS answer lists of flat key-value arrays. */
export function pairsToObject(p: unknown): Record<string, string> {
  const o: Record<string, string> = {};
  if (!Array.isArray(p)) return o;
  for (let i = 0; i + 1 < p.length; i += 2) o[String(p[i])] = String(p[i + 1]);
  return o;
}
