import { Redis } from 'ioredis';
import { mustParseAddress } from '../topology/index.js';
import { parseMasterAddrReply, parseSentinelMasterReply, type SentinelMasterInfo } from './sentinel-replies.js';

/**
 * The one question every layer asks the sentinels: for each shard, the address this sentinel hands out
 * (GET-MASTER-ADDR-BY-NAME) and its master record (SENTINEL MASTER: config-epoch, flags). Each sentinel is asked
 * on its own, in parallel, so one that is down or slow costs one timeout. What each answered is returned as is,
 * with typed failures; deciding what the answers mean is the election's job (election.ts), not the caller's.
 */

export type SentinelFailureKind = 'down' | 'auth-refused' | 'bad-reply' | 'timeout' | 'not-monitored';

export interface SentinelFailure {
  kind: SentinelFailureKind;
  detail: string;
}

/** One sentinel's answer about one shard. */
export type ShardAnswer =
  | ({
      ok: true;
      /** GET-MASTER-ADDR-BY-NAME: the leader answers the promoted replica from +promoted-slave on. */
      addr: string;
      /** SENTINEL MASTER's config-epoch. */
      epoch: number;
      /** SENTINEL MASTER's own address record, which moves only at this sentinel's +switch-master. */
      recordAddr: string;
    } & Omit<SentinelMasterInfo, 'addr' | 'configEpoch'>)
  | { ok: false; failure: SentinelFailure };

/** One sentinel's answers: per shard, or one failure for all of them when it could not be asked at all. */
export type SentinelReport =
  | { sentinel: string; ok: true; shards: Record<string, ShardAnswer> }
  | { sentinel: string; ok: false; failure: SentinelFailure };

/** What a connection to a sentinel must offer: ioredis's `call`. */
export type SentinelCall = (...args: string[]) => Promise<unknown>;

/** Asks one connected sentinel about every shard. Never throws: each failure becomes a typed answer. */
export async function askShards(call: SentinelCall, shards: readonly string[]): Promise<Record<string, ShardAnswer>> {
  const out: Record<string, ShardAnswer> = {};
  await Promise.all(
    shards.map(async (name) => {
      const [addrR, masterR] = await Promise.allSettled([call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name), call('SENTINEL', 'MASTER', name)]);
      if (addrR.status === 'rejected') return void (out[name] = { ok: false, failure: classifyError(addrR.reason) });
      // A nil address is how a sentinel says it does not monitor the name (its SENTINEL MASTER then fails too).
      if (addrR.value === null) return void (out[name] = { ok: false, failure: { kind: 'not-monitored', detail: 'the sentinel does not monitor this master name' } });
      const a = parseMasterAddrReply(addrR.value);
      if ('error' in a) return void (out[name] = { ok: false, failure: { kind: 'bad-reply', detail: a.error } });
      if (masterR.status === 'rejected') return void (out[name] = { ok: false, failure: classifyError(masterR.reason) });
      const m = parseSentinelMasterReply(masterR.value);
      if ('error' in m) return void (out[name] = { ok: false, failure: { kind: 'bad-reply', detail: `SENTINEL MASTER: ${m.error}` } });
      const { addr: recordAddr, configEpoch, ...rest } = m;
      out[name] = { ok: true, addr: a.addr, epoch: configEpoch, recordAddr, ...rest };
    }),
  );
  return out;
}

/** What kind of failure an error from a sentinel connection or command is. */
export function classifyError(e: unknown): SentinelFailure {
  const detail = (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 200);
  if (/NOAUTH|WRONGPASS|invalid password|invalid username-password/i.test(detail)) return { kind: 'auth-refused', detail };
  if (/ETIMEDOUT|timed? ?out/i.test(detail)) return { kind: 'timeout', detail };
  if (/unknown command|unknown subcommand|^ERR|^WRONGTYPE/i.test(detail)) return { kind: 'bad-reply', detail };
  return { kind: 'down', detail };
}

/** The failure to report for a whole sentinel when every shard's answer failed the same way (NOAUTH on each). */
function wholeFailure(shards: Record<string, ShardAnswer>): SentinelFailure | null {
  const failures = Object.values(shards).map((a) => (a.ok ? null : a.failure));
  if (failures.length === 0 || failures.some((f) => f === null)) return null;
  const auth = failures.find((f) => f!.kind === 'auth-refused');
  return auth ?? null;
}

/**
 * Asks every sentinel in `sentinels` about `shards` over short-lived connections; one report per sentinel, in
 * the order given. One deadline covers connect and replies (not ioredis's commandTimeout: its timers outlive the
 * replies and would keep a short-lived CLI alive after it printed its answer).
 */
export async function querySentinels(
  sentinels: readonly string[],
  shards: readonly string[],
  password: string | null,
  timeoutMs = 500,
): Promise<SentinelReport[]> {
  return Promise.all(sentinels.map((s) => queryOne(s, shards, password, timeoutMs)));
}

async function queryOne(sentinel: string, shards: readonly string[], password: string | null, timeoutMs: number): Promise<SentinelReport> {
  const { host, port } = mustParseAddress(sentinel);
  const client = new Redis({
    host,
    port,
    lazyConnect: true,
    enableReadyCheck: false,
    disableClientInfo: true,
    enableOfflineQueue: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
    disconnectTimeout: timeoutMs,
    ...(password !== null ? { password } : {}),
  });
  // The socket's own error (ECONNREFUSED...) says more than ioredis's "Connection is closed".
  let socketError: Error | null = null;
  client.on('error', (e: Error) => (socketError = e));
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    const answered = await Promise.race([
      client.connect().then(
        () => askShards((...args) => client.call(args[0]!, ...args.slice(1)), shards),
        (e: unknown) => {
          throw socketError ?? e;
        },
      ),
      deadline,
    ]);
    if (answered === 'timeout') return { sentinel, ok: false, failure: { kind: 'timeout', detail: `no answer within ${timeoutMs} ms` } };
    const whole = wholeFailure(answered);
    return whole ? { sentinel, ok: false, failure: whole } : { sentinel, ok: true, shards: answered };
  } catch (e) {
    return { sentinel, ok: false, failure: classifyError(e) };
  } finally {
    clearTimeout(timer);
    // After a refused connect the socket is already closed; disconnect() would still arm a timer waiting for
    // a close that never comes, holding a short-lived process open.
    if (client.status !== 'end') client.disconnect();
  }
}

/** One shard's answer from one report (a whole-sentinel failure is that shard's failure too). */
export function answerOf(report: SentinelReport, shard: string): ShardAnswer {
  if (!report.ok) return { ok: false, failure: report.failure };
  return report.shards[shard] ?? { ok: false, failure: { kind: 'bad-reply', detail: 'no answer for this shard' } };
}

/** "connection refused", "refuses our password"...: a failure for a table cell or a log line. */
export function describeFailure(f: SentinelFailure): string {
  switch (f.kind) {
    case 'auth-refused':
      return `refuses our password (${f.detail}); check auth in the description`;
    case 'timeout':
      return `timed out (${f.detail})`;
    case 'not-monitored':
      return 'does not monitor this shard';
    case 'down':
      return /ECONNREFUSED/.test(f.detail) ? 'connection refused' : f.detail;
    case 'bad-reply':
      return `bad reply: ${f.detail}`;
  }
}
