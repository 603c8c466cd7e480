import { answerOf, describeFailure, type SentinelReport } from './sentinel-query.js';

/**
 * The one rule for "who is this shard's master" (design.md, "The agent is a level-triggered reconciler"):
 *   1. At least a majority of the CONFIGURED sentinels must answer, or there is no answer.
 *   2. Among the answers, the highest config-epoch names the candidate; sentinels at that epoch must agree.
 *   3. A majority of all configured sentinels must report that candidate address.
 * Pure: a function of plain answers, unit-tested without a stack. Whoever needs less than an election (status
 * showing how the sentinels split) calls `pluralityView`, and says so by that name.
 */

/** One configured sentinel's answer for one shard, failed ones included so the count is honest. */
export type Vote =
  | { sentinel: string; ok: true; addr: string; epoch: number; failoverInProgress: boolean }
  | { sentinel: string; ok: false; error: string };

export type NoElectionReason = 'no-majority' | 'epoch-conflict' | 'waiting-for-majority';

export type Election =
  | { ok: true; master: string; epoch: number; agreeing: number; of: number; failoverInProgress: boolean }
  | {
      ok: false;
      reason: NoElectionReason;
      detail: string;
      /** The answers are moving (a failover in flight): asking again within a tick or two may elect. */
      soon: boolean;
      failoverInProgress: boolean;
    };

export function majorityOf(n: number): number {
  return Math.floor(n / 2) + 1;
}

export function elect(votes: readonly Vote[], sentinelCount: number): Election {
  const need = majorityOf(sentinelCount);
  const ok = votes.filter((a): a is Extract<Vote, { ok: true }> => a.ok);
  const failoverInProgress = ok.some((a) => a.failoverInProgress);
  const none = (reason: NoElectionReason, detail: string, soon: boolean): Election => ({ ok: false, reason, detail, soon, failoverInProgress });

  if (ok.length < need) {
    const failed = votes.filter((a): a is Extract<Vote, { ok: false }> => !a.ok).map((a) => `${a.sentinel}: ${a.error}`);
    return none('no-majority', `${ok.length} of ${sentinelCount} sentinels answered, ${need} needed${failed.length ? ` (${failed.join('; ')})` : ''}`, false);
  }
  const top = Math.max(...ok.map((a) => a.epoch));
  const topAddrs = [...new Set(ok.filter((a) => a.epoch === top).map((a) => a.addr))];
  if (topAddrs.length !== 1) return none('epoch-conflict', `sentinels at config-epoch ${top} disagree: ${topAddrs.join(' vs ')}`, true);
  const candidate = topAddrs[0]!;
  const agreeing = ok.filter((a) => a.addr === candidate).length;
  if (agreeing < need) {
    const view = ok.map((a) => `${a.sentinel}=${a.addr}@${a.epoch}`).join(', ');
    // A minority ahead of the rest is a failover in flight: the others hear of it within a tick or two.
    return none('waiting-for-majority', `${agreeing} of ${sentinelCount} sentinels report ${candidate} at epoch ${top}, ${need} needed (${view})`, true);
  }
  return { ok: true, master: candidate, epoch: top, agreeing, of: sentinelCount, failoverInProgress };
}

/** The votes for one shard from the query's reports, one per configured sentinel. */
export function votesFor(reports: readonly SentinelReport[], shard: string): Vote[] {
  return reports.map((r) => {
    const a = answerOf(r, shard);
    return a.ok
      ? { sentinel: r.sentinel, ok: true, addr: a.addr, epoch: a.epoch, failoverInProgress: a.failoverInProgress }
      : { sentinel: r.sentinel, ok: false, error: describeFailure(a.failure) };
  });
}

/** Elects every shard from one round of reports; `reports` has one entry per configured sentinel. */
export function electAll(reports: readonly SentinelReport[], shards: readonly string[]): Record<string, Election> {
  return Object.fromEntries(shards.map((s) => [s, elect(votesFor(reports, s), reports.length)]));
}

export interface PluralityView {
  /** Votes per reported address, most first. */
  votes: Array<{ addr: string; sentinels: number }>;
  /** How many sentinels reported an address. */
  answering: number;
  /** Every answering sentinel reports the same address. */
  unanimous: boolean;
}

/**
 * NOT an election: how the answering sentinels split, for display (status's "2 say A, 1 says B"). Never use its
 * top entry as the master: a plurality of one answering sentinel is no majority.
 */
export function pluralityView(votes: readonly Vote[]): PluralityView {
  const counts = new Map<string, number>();
  let answering = 0;
  for (const v of votes) {
    if (!v.ok) continue;
    answering++;
    counts.set(v.addr, (counts.get(v.addr) ?? 0) + 1);
  }
  const sorted = [...counts.entries()].map(([addr, sentinels]) => ({ addr, sentinels })).sort((a, b) => b.sentinels - a.sentinels);
  return { votes: sorted, answering, unanimous: sorted.length === 1 };
}

/**
 * NOT an election either: the master that sentinel.conf files record (Sentinel rewrites its file at every change,
 * with the config-epoch of the failover that elected it), for a full restart when no sentinel answers yet. A
 * higher epoch replaces a lower one, as Sentinel itself treats configs; at the top epoch, the address most files
 * name (pluralityView), and none on a tie. Never used while the sentinels can be asked.
 */
export function latestRecorded(records: ReadonlyArray<{ addr: string; epoch: number }>): string | null {
  if (records.length === 0) return null;
  const top = Math.max(...records.map((r) => r.epoch));
  const view = pluralityView(records.filter((r) => r.epoch === top).map((r, i) => ({ sentinel: String(i), ok: true, addr: r.addr, epoch: r.epoch, failoverInProgress: false })));
  const [first, second] = view.votes;
  return first && (second === undefined || first.sentinels > second.sentinels) ? first.addr : null;
}
