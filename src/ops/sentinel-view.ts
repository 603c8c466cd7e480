/**
 * What the sentinels say about each shard: every sentinel is asked on its own (a sentinel that is down or slow
 * costs one timeout, in parallel), and the shard's master is what a majority of the answering sentinels report.
 */
import { pairsToObject } from '../runtime/index.js';
import { formatAddress, type Topology } from '../topology/index.js';
import { probe, shortError } from './probe.js';

export { shortError };

export interface SentinelShardView {
  /** GET-MASTER-ADDR-BY-NAME: the address this sentinel hands out now (the new one right after a promotion). */
  master: string | null;
  /** SENTINEL MASTER flags (master, s_down, o_down, failover_in_progress, ...); empty when not monitored. */
  flags: string[];
  /** Replicas and other sentinels this sentinel knows for the shard. */
  replicas: number | null;
  otherSentinels: number | null;
  /** SENTINEL MASTER config-epoch: bumped by every failover; sentinels that agree report the same. */
  configEpoch: number | null;
}

export interface SentinelView {
  addr: string;
  up: boolean;
  /** Why it is not up (connection refused, timeout, NOAUTH...). */
  error?: string;
  /** By shard name; a shard this sentinel does not monitor has master null. */
  shards: Record<string, SentinelShardView>;
}

export async function askSentinels(topo: Topology, password: string | null, timeoutMs = 500): Promise<SentinelView[]> {
  return Promise.all(topo.sentinel.instances.map((addr) => askSentinel(addr, topo.shards.map((s) => s.name), password, timeoutMs)));
}

async function askSentinel(addr: string, shards: string[], password: string | null, timeoutMs: number): Promise<SentinelView> {
  try {
    return await probe(addr, password, timeoutMs, async (c) => {
      const pipe = c.pipeline();
      for (const s of shards) {
        pipe.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', s);
        pipe.call('SENTINEL', 'MASTER', s);
      }
      const replies = (await pipe.exec()) ?? [];
      const out: Record<string, SentinelShardView> = {};
      shards.forEach((s, i) => {
        const [addrErr, addrReply] = replies[2 * i] ?? [null, null];
        const [masterErr, masterReply] = replies[2 * i + 1] ?? [null, null];
        const info = !masterErr && Array.isArray(masterReply) ? pairsToObject(masterReply as string[]) : {};
        out[s] = {
          master: addrErr ? null : masterAddress(addrReply),
          flags: info.flags ? info.flags.split(',') : [],
          replicas: info['num-slaves'] !== undefined ? Number(info['num-slaves']) : null,
          otherSentinels: info['num-other-sentinels'] !== undefined ? Number(info['num-other-sentinels']) : null,
          configEpoch: info['config-epoch'] !== undefined ? Number(info['config-epoch']) : null,
        };
      });
      // A sentinel that refuses every command (NOAUTH, wrong password) is not answering.
      const first = replies[0]?.[0];
      if (first && replies.every(([e]) => e)) throw first;
      return { addr, up: true, shards: out };
    });
  } catch (e) {
    return { addr, up: false, error: shortError(e), shards: {} };
  }
}

function masterAddress(reply: unknown): string | null {
  if (!Array.isArray(reply) || reply.length !== 2) return null;
  const port = Number(reply[1]);
  if (!Number.isInteger(port)) return null;
  return formatAddress({ host: String(reply[0]), port });
}

export interface MasterVerdict {
  /** The address more than half of the answering sentinels report; null when none answers or they split evenly. */
  master: string | null;
  /** How many sentinels reported an address for this shard. */
  answering: number;
  /** Votes per reported address, most first. */
  votes: Array<{ addr: string; sentinels: number }>;
  /** Every answering sentinel reports the same address. */
  unanimous: boolean;
}

/** The sentinels' answer for one shard: the majority of those that answered. Pure, for unit tests. */
export function sentinelMajority(views: SentinelView[], shard: string): MasterVerdict {
  const counts = new Map<string, number>();
  let answering = 0;
  for (const v of views) {
    const m = v.up ? v.shards[shard]?.master : null;
    if (!m) continue;
    answering++;
    counts.set(m, (counts.get(m) ?? 0) + 1);
  }
  const votes = [...counts.entries()].map(([addr, sentinels]) => ({ addr, sentinels })).sort((a, b) => b.sentinels - a.sentinels);
  const best = votes[0];
  const master = best && best.sentinels * 2 > answering ? best.addr : null;
  return { master, answering, votes, unanimous: votes.length === 1 };
}
