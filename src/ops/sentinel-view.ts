/**
 * What the sentinels say about each shard, for status: the one query (engine/sentinel-query.ts) reshaped per
 * sentinel, the election's master (engine/election.ts), and, for display only, how the answers split.
 */
import { elect, pluralityView, querySentinels, describeFailure, type Election, type Vote } from '../engine/index.js';
import type { Topology } from '../topology/index.js';
import { shortError } from './probe.js';

export { shortError };

export interface SentinelShardView {
  /** GET-MASTER-ADDR-BY-NAME: the address this sentinel hands out now (the new one right after a promotion). */
  master: string | null;
  /** SENTINEL MASTER config-epoch: bumped by every failover; null when the sentinel gave no usable answer for the shard. */
  configEpoch: number | null;
  /** SENTINEL MASTER flags (master, s_down, o_down, failover_in_progress, ...); empty when not monitored. */
  flags: string[];
  /** Replicas and other sentinels this sentinel knows for the shard. */
  replicas: number | null;
  otherSentinels: number | null;
  /** Why there is no answer for this shard (not monitored, bad reply...). */
  error?: string;
}

export interface SentinelView {
  addr: string;
  up: boolean;
  /** Why it is not up (connection refused, timeout, refuses our password...). */
  error?: string;
  /** By shard name; a shard this sentinel does not monitor has master null. */
  shards: Record<string, SentinelShardView>;
}

export async function askSentinels(topo: Topology, password: string | null, timeoutMs = 500): Promise<SentinelView[]> {
  const names = topo.shards.map((s) => s.name);
  const reports = await querySentinels(topo.sentinel.instances, names, password, timeoutMs);
  return reports.map((r): SentinelView => {
    if (!r.ok) return { addr: r.sentinel, up: false, error: describeFailure(r.failure), shards: {} };
    const shards: Record<string, SentinelShardView> = {};
    for (const name of names) {
      const a = r.shards[name]!;
      shards[name] = a.ok
        ? { master: a.addr, configEpoch: a.epoch, flags: a.flags, replicas: a.replicas, otherSentinels: a.otherSentinels }
        : { master: null, configEpoch: null, flags: [], replicas: null, otherSentinels: null, error: describeFailure(a.failure) };
    }
    return { addr: r.sentinel, up: true, shards };
  });
}

export interface MasterVerdict {
  /** The elected master (majority of all configured sentinels, highest config-epoch), or null. */
  master: string | null;
  /** The election itself, with the reason when there is no master. */
  election: Election;
  /** How many sentinels reported an address for this shard. */
  answering: number;
  /** Votes per reported address, most first: the plurality view, for display only. */
  votes: Array<{ addr: string; sentinels: number }>;
  /** Every answering sentinel reports the same address. */
  unanimous: boolean;
}

/** The sentinels' answer for one shard: the election over every view (one per configured sentinel). Pure. */
export function sentinelVerdict(views: SentinelView[], shard: string): MasterVerdict {
  const votes: Vote[] = views.map((v) => {
    const s = v.up ? v.shards[shard] : undefined;
    return s && s.master !== null && s.configEpoch !== null
      ? { sentinel: v.addr, ok: true, addr: s.master, epoch: s.configEpoch, failoverInProgress: s.flags.includes('failover_in_progress') }
      : { sentinel: v.addr, ok: false, error: v.error ?? s?.error ?? 'no answer' };
  });
  const election = elect(votes, views.length);
  const plurality = pluralityView(votes);
  return { master: election.ok ? election.master : null, election, ...plurality };
}
