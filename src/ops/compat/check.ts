/**
 * `redis-shard compat`: what the proxy will do with each command a client sends, and why, from the commands
 * alone (no stack needed). Multi-key calls are placed with the deployment's own ring, so "the keys share a
 * shard" is answered for the real keys of the input.
 */
import type { Ring } from '../../hashring/index.js';
import { arityProblem, multiKeyCall, NUTCRACKER_COMMANDS, unsupportedHint } from './nutcracker-commands.js';
import type { ParsedCall, ParsedInput } from './parse.js';
import { REDIS_COMMANDS } from './redis-commands.js';

/**
 * What the proxy does with one call.
 * - ok: forwarded to the shard of its key (or answered by the proxy: PING, AUTH).
 * - split: a multi-key MGET/DEL/UNLINK/TOUCH/MSET, split per key over the shards (MSET is then not atomic).
 * - same-shard: routed whole by one key; every key of this call lies on that shard, so it works, but only
 *   because of where these keys hash.
 * - cross-shard: routed whole by one key while other keys lie on other shards: a wrong answer or a write to
 *   the wrong shard, without an error.
 * - closes: the proxy closes the client's connection without a reply (unknown to twemproxy, or an argument
 *   count its parser refuses); every command pipelined behind it fails too.
 */
export type CallVerdict = 'ok' | 'split' | 'same-shard' | 'cross-shard' | 'closes';
export const FAILING: ReadonlySet<CallVerdict> = new Set(['cross-shard', 'closes']);

export interface CallCheck {
  verdict: CallVerdict;
  /** Whether the proxy keeps the client's connection open after this call (QUIT closes it, as asked). */
  connection: 'kept' | 'closed';
  /** For closes: unsupported, not a Redis command, or an argument count twemproxy refuses. */
  closeReason?: 'unsupported' | 'unknown-command' | 'arity';
  why: string;
  fix?: string;
}

const TAG_FIX = 'give the keys of one call a common hash tag (proxy.hash_tag "{}", keys like user:{42}:a and user:{42}:b)';

/** `ring` places keys; null (random distribution) leaves every multi-key call cross-shard unless it has one key. */
export function checkCall(call: ParsedCall, ring: Ring | null, hashTagSet: boolean): CallCheck {
  const r = judge(call, ring, hashTagSet);
  return { ...r, connection: r.verdict === 'closes' || call.name === 'QUIT' ? 'closed' : 'kept' };
}

function judge(call: ParsedCall, ring: Ring | null, hashTagSet: boolean): Omit<CallCheck, 'connection'> {
  const cls = NUTCRACKER_COMMANDS.get(call.name);
  if (call.name === 'MOVE') {
    // nc_redis.c marks MOVE noforward but has no reply for it: the request fails and the connection closes.
    return {
      verdict: 'closes',
      closeReason: 'unsupported',
      why: 'twemproxy 0.5.0 parses MOVE but neither forwards nor answers it: it closes the connection',
      fix: 'databases other than 0 are not reachable through the proxy; copy the key with DUMP/RESTORE',
    };
  }
  if (call.name === 'QUIT') return { verdict: 'ok', why: 'the proxy closes the connection, as QUIT asks' };
  if (cls === undefined) {
    if (!REDIS_COMMANDS.has(call.name)) {
      return {
        verdict: 'closes',
        closeReason: 'unknown-command',
        why: 'not a Redis command (a typo, or a module\'s command); twemproxy closes the connection on any name it does not know',
        fix: 'check the spelling',
      };
    }
    const h = unsupportedHint(call.name);
    return { verdict: 'closes', closeReason: 'unsupported', why: `not supported by twemproxy: it closes the connection (${h.why})`, fix: h.fix };
  }
  const arity = arityProblem(cls, call.args);
  if (arity !== null) {
    return {
      verdict: 'closes',
      closeReason: 'arity',
      why: `${arity}: it closes the connection`,
      fix: cls === 'argeval' ? 'pass at least one key to EVAL/EVALSHA (numkeys >= 1)' : `send ${call.name} in the form twemproxy parses, or send this call to the master directly`,
    };
  }
  if (cls === 'argx' || cls === 'argkvx') {
    const keys = cls === 'argx' ? call.args.length : call.args.length / 2;
    if (keys <= 1) return { verdict: 'ok', why: 'forwarded to the shard of its key' };
    return call.name === 'MSET'
      ? { verdict: 'split', why: 'split per key over the shards: not atomic (a failure can leave some keys written)', fix: 'hash-tag keys that must change together and use EVAL' }
      : { verdict: 'split', why: 'split per key over the shards and the replies merged' };
  }
  if (call.name === 'PING' || call.name === 'AUTH') return { verdict: 'ok', why: 'answered by the proxy itself' };
  const mk = multiKeyCall(call.name, call.args);
  if (mk === null) return { verdict: 'ok', why: 'forwarded to the shard of its key' };
  const distinct = new Set(mk.keys.map((k) => k.toString('latin1')));
  if (!mk.routedByNonKey && !mk.unlistedKeys && distinct.size <= 1) return { verdict: 'ok', why: 'forwarded to the shard of its key' };
  const routedWhy = mk.routedByNonKey
    ? `routed by its numkeys argument ("${mk.routedBy.toString('latin1')}"), not by a key`
    : 'routed whole by its first key only';
  const fix = mk.routedByNonKey ? `use the ${call.name}STORE form with hash-tagged keys, or compute it in the client` : hashTagSet ? TAG_FIX.replace('proxy.hash_tag "{}", ', '') : TAG_FIX;
  if (mk.unlistedKeys) return { verdict: 'same-shard', why: `${routedWhy}; its BY/GET patterns read keys that must lie on the same shard`, fix };
  if (ring === null) return { verdict: 'cross-shard', why: `${routedWhy}; the deployment's distribution is random, so no two keys are sure to share a shard`, fix };
  const home = ring.locate(mk.routedBy);
  const away = mk.keys.filter((k) => ring.locate(k) !== home);
  if (away.length === 0) return { verdict: 'same-shard', why: `${routedWhy}; this call's keys all lie on one shard`, fix };
  return {
    verdict: 'cross-shard',
    why: `${routedWhy}; ${away.length} of its ${mk.keys.length} keys lie on another shard, so the result is wrong without an error`,
    fix,
  };
}

export interface CommandSummary {
  name: string;
  calls: number;
  verdicts: Partial<Record<CallVerdict, number>>;
  /** fail: some call would fail; warn: works, with a condition (split, same shard by luck); ok. */
  status: 'ok' | 'warn' | 'fail';
  /** The reason of the worst verdict seen, and its fix. */
  why: string;
  fix?: string;
  /** Line numbers of up to 5 failing calls. */
  failingLines: number[];
}

export interface CompatReport {
  source: string;
  format: ParsedInput['format'];
  calls: number;
  commands: CommandSummary[];
  counts: Record<CallVerdict, number>;
  /** Calls that would fail (closes, cross-shard). */
  failing: number;
  unreadable: ParsedInput['unreadable'];
  luaLines: number;
  /** Whether the ring used for multi-key calls has a hash tag. */
  hashTag: string | null;
}

const RANK: Record<CallVerdict, number> = { ok: 0, split: 1, 'same-shard': 2, 'cross-shard': 3, closes: 4 };

export function checkCommands(source: string, input: ParsedInput, ring: Ring | null, hashTag: string | null): CompatReport {
  const byName = new Map<string, { summary: CommandSummary; worst: number }>();
  const counts: Record<CallVerdict, number> = { ok: 0, split: 0, 'same-shard': 0, 'cross-shard': 0, closes: 0 };
  for (const call of input.calls) {
    const c = checkCall(call, ring, hashTag !== null);
    counts[c.verdict]++;
    let entry = byName.get(call.name);
    if (!entry) {
      entry = { summary: { name: call.name, calls: 0, verdicts: {}, status: 'ok', why: c.why, failingLines: [] }, worst: -1 };
      byName.set(call.name, entry);
    }
    const s = entry.summary;
    s.calls++;
    s.verdicts[c.verdict] = (s.verdicts[c.verdict] ?? 0) + 1;
    if (FAILING.has(c.verdict) && s.failingLines.length < 5) s.failingLines.push(call.line);
    if (RANK[c.verdict] > entry.worst) {
      entry.worst = RANK[c.verdict];
      s.why = c.why;
      if (c.fix !== undefined) s.fix = c.fix;
      else delete s.fix;
    }
  }
  const commands = [...byName.values()].map(({ summary: s }) => {
    const v = Object.keys(s.verdicts) as CallVerdict[];
    s.status = v.some((x) => FAILING.has(x)) ? 'fail' : v.some((x) => x !== 'ok') ? 'warn' : 'ok';
    return s;
  });
  const order = { fail: 0, warn: 1, ok: 2 };
  commands.sort((a, b) => order[a.status] - order[b.status] || b.calls - a.calls || a.name.localeCompare(b.name));
  return {
    source,
    format: input.format,
    calls: input.calls.length,
    commands,
    counts,
    failing: counts.closes + counts['cross-shard'],
    unreadable: input.unreadable,
    luaLines: input.luaLines,
    hashTag,
  };
}
