import { elect, majorityOf, type RoleInfo, type Vote } from '../engine/index.js';

export { majorityOf };

/**
 * The agent's decisions, as a pure function of plain objects: what each sentinel answered, what the candidate
 * instances say about their own role, and what the proxy config holds now. No I/O, no clock: unit-tested with
 * fake answers, and a second call over an unchanged world decides the same thing (so changes nothing).
 *
 * The rule (design.md, "The agent is a level-triggered reconciler"):
 *   1-3. The election (engine/election.ts): a majority of the configured sentinels, highest config-epoch.
 *   4. The candidate must be an instance of that shard in the description, and must itself say ROLE master.
 *   5. Only then, and only when the proxy points elsewhere, switch.
 * One exception keeps the fast path (fast-path.ts) from being undone mid-failover: see `fastSwitch`.
 */

/** One configured sentinel's answer for a shard: the election's vote. */
export type SentinelAnswer = Vote;

export type RoleProbe = RoleInfo | { error: string };

export interface ShardInput {
  shard: string;
  /** The shard's instances in the description: the only addresses the proxy may be pointed at. */
  instances: string[];
  /** The address the proxy config holds for this shard, or null when it has none. */
  current: string | null;
  /** One answer per configured sentinel (failed ones included, so the count is honest). */
  answers: SentinelAnswer[];
  /** ROLE of addresses of interest (the candidate, the current one), by address. */
  roles: Record<string, RoleProbe>;
  /**
   * Set when the fast path switched the proxy to `to` ahead of the sentinels' majority. While a sentinel still
   * reports the failover in progress and `to` still says master, the majority rule does not switch back to the
   * pre-failover address; once the failover ends or aborts, the majority rule alone decides again.
   */
  fastSwitch: { to: string; from: string } | null;
  /** The shard is fenced now (agent/fence.ts): its clients get errors, not acknowledgements. */
  fenced?: boolean;
  /** The master a fenced shard was fenced from, when known (mode haproxy: its backend's address; else this agent's memory). */
  fencedFrom?: string | null;
}

export interface AnalyzeInput {
  /** How many sentinels the description lists: a majority is counted against this, not against who answered. */
  sentinelCount: number;
  shards: ShardInput[];
}

export type HoldReason =
  | 'no-majority'
  | 'epoch-conflict'
  | 'waiting-for-majority'
  | 'not-an-instance'
  | 'unconfirmed'
  | 'target-not-master'
  | 'fast-switch-pending'
  | 'fenced-failover-in-progress';

export type ShardDecision =
  | { shard: string; action: 'none'; addr: string; epoch: number }
  | { shard: string; action: 'switch'; from: string | null; to: string; epoch: number; agreeing: number; of: number }
  | { shard: string; action: 'hold'; reason: HoldReason; detail: string; soon: boolean };

export interface Analysis {
  decisions: ShardDecision[];
  /** Switches to apply, by shard name. Empty when nothing differs. */
  switches: Record<string, string>;
  /** Some shard is mid-change (a failover the majority has not caught up with): reconcile again soon. */
  rerunSoon: boolean;
}

export function analyze(input: AnalyzeInput): Analysis {
  const decisions = input.shards.map((s) => decideShard(s, input.sentinelCount));
  const switches: Record<string, string> = {};
  for (const d of decisions) if (d.action === 'switch') switches[d.shard] = d.to;
  return { decisions, switches, rerunSoon: decisions.some((d) => d.action === 'hold' && d.soon) };
}

export function decideShard(s: ShardInput, sentinelCount: number): ShardDecision {
  const hold = (reason: HoldReason, detail: string, soon: boolean): ShardDecision => ({ shard: s.shard, action: 'hold', reason, detail, soon });
  const e = elect(s.answers, sentinelCount);
  if (!e.ok) return hold(e.reason, e.detail, e.soon);
  const { master: candidate, epoch: top, agreeing, failoverInProgress: inProgress } = e;
  // A fence does not come off onto the master it was fenced from while a sentinel is failing the shard over: a
  // majority that still names the old master while one of them promotes another (a split just healed) would have
  // writes acknowledged there, then discarded with the promotion. The failover ends (the majority names the new
  // master, which lifts the fence at once even while the leader still reconfigures replicas) or aborts (the old
  // one). When the agent does not know where the fence came from, it waits for the end either way.
  if (s.fenced && inProgress && (s.fencedFrom == null || s.fencedFrom === candidate)) {
    return hold('fenced-failover-in-progress', `the sentinels name ${candidate}, which ${s.shard} was fenced from, but a failover of ${s.shard} is in progress; the shard stays fenced until it ends`, true);
  }
  if (candidate === s.current) return { shard: s.shard, action: 'none', addr: candidate, epoch: top };
  if (!s.instances.includes(candidate)) {
    return hold('not-an-instance', `the sentinels elected ${candidate}, which is not an instance of shard ${s.shard} in the description (${s.instances.join(', ')}); not pointing the proxy there`, false);
  }
  const role = s.roles[candidate];
  if (role === undefined || 'error' in role) {
    return hold('unconfirmed', `${candidate} did not answer ROLE${role && 'error' in role ? ` (${role.error})` : ''}`, true);
  }
  if (role.role !== 'master') {
    return hold('target-not-master', `the sentinels elected ${candidate} but it says ROLE ${role.role}`, true);
  }
  if (s.fastSwitch && s.current === s.fastSwitch.to && inProgress) {
    const cur = s.roles[s.current];
    if (cur !== undefined && !('error' in cur) && cur.role === 'master') {
      return hold('fast-switch-pending', `the proxy was switched early to ${s.current}, which says master; the failover is still in progress, so the majority's ${candidate} is not applied yet`, true);
    }
  }
  return { shard: s.shard, action: 'switch', from: s.current, to: candidate, epoch: top, agreeing, of: sentinelCount };
}

/**
 * Addresses whose ROLE `analyze` may need for this shard: the addresses the sentinels report, and the current one
 * after an early switch. Only the shard's own instances: a sentinel answering nonsense must not make the agent
 * connect to whatever address it names.
 */
export function addressesToProbe(s: Pick<ShardInput, 'answers' | 'current' | 'fastSwitch' | 'instances'>): string[] {
  const out = new Set<string>();
  for (const a of s.answers) if (a.ok && a.addr !== s.current) out.add(a.addr);
  if (s.fastSwitch && s.current === s.fastSwitch.to) out.add(s.fastSwitch.to);
  return [...out].filter((a) => s.instances.includes(a));
}
