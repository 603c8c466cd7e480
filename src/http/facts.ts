/**
 * What the HTTP side reads from the deployment's status snapshot. The snapshot itself is made by the one
 * status function `redis-shard status` uses (ops/status.ts, handed in by ops/observe.ts), so the dashboard,
 * /metrics and `status --watch` show the same facts; this file names only the fields read here, so this layer
 * does not import ops/.
 */
export interface InstanceFacts {
  addr: string;
  up: boolean;
  role: 'master' | 'replica' | null;
  error?: string;
  replicaOf: string | null;
  link: 'up' | 'down' | 'syncing' | null;
  lagSeconds: number | null;
  lagBytes: number | null;
  replicasOnline: number | null;
}

export interface ShardFacts {
  name: string;
  master: string | null;
  sentinelVotes: Array<{ addr: string; sentinels: number }>;
  sentinelsAnswering: number;
  /** Each sentinel's own answer for this shard. */
  sentinelViews: Array<{ sentinel: string; master: string | null; configEpoch: number | null; flags: string[] }>;
  proxyTarget: string | null;
  instances: InstanceFacts[];
  problems: string[];
}

export interface StatusFacts {
  at: string;
  healthy: boolean;
  problems: string[];
  proxy: { listen: string; up: boolean; error?: string };
  sentinels: Array<{ addr: string; up: boolean; error?: string }>;
  shards: ShardFacts[];
}

/** One source a snapshot asked, and whether it answered within its bound. */
export interface SourceResult {
  /** sentinel | redis | proxy | nutcracker_stats | status */
  source: string;
  addr: string;
  up: boolean;
  timedOut: boolean;
  error?: string;
}

const TIMED_OUT = /timed? ?out/i;

/** Every source of a status snapshot, with "timed out" told apart from "refused". */
export function sourcesOf(s: StatusFacts): SourceResult[] {
  const one = (source: string, addr: string, up: boolean, error?: string): SourceResult => ({
    source,
    addr,
    up,
    timedOut: !up && error !== undefined && TIMED_OUT.test(error),
    ...(error !== undefined && !up ? { error } : {}),
  });
  return [
    ...s.sentinels.map((x) => one('sentinel', x.addr, x.up, x.error)),
    ...s.shards.flatMap((sh) => sh.instances.map((i) => one('redis', i.addr, i.up, i.error))),
    one('proxy', s.proxy.listen, s.proxy.up, s.proxy.error),
  ];
}
