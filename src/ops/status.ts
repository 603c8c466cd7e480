// Over 250 lines on purpose: the report types and analyzeStatus, one pure function from observations to problems; the I/O is status-observe.ts.
/**
 * `redis-shard status`: the whole deployment (every host), as each engine sees it, and every place where they
 * disagree. Two steps, as in the agent: observe (ask everything, in parallel, each with a short timeout) and
 * analyze (pure: observations -> report with problems), so the rules are unit-tested without a stack.
 */
import { beforeCommit, readState as readReshardState, type ReshardState } from '../reshard/index.js';
import type { ProxyRejections } from '../runtime/index.js';
import type { Topology } from '../topology/index.js';
import { haproxyShardView } from './haproxy-view.js';
import { driftLine, findDrift } from './drift.js';
import { sentinelVerdict } from './sentinel-view.js';
import { balanceWarning, clientRejections, rejectionsWarning, type ClientRejectionsReport } from './status-clients.js';
import { observeStatus, type Observations, type ProxyObservation, type StatusOptions } from './status-observe.js';

export { observeStatus, type InstanceObservation, type Observations, type ProxyConfigObservation, type ProxyObservation, type StatusOptions } from './status-observe.js';

// ---------------------------------------------------------------------------------------------------------
// Analysis

export type Role = 'master' | 'replica';

export interface InstanceStatus {
  addr: string;
  up: boolean;
  role: Role | null;
  error?: string;
  /** Replica: the master it replicates from. */
  replicaOf: string | null;
  /** Replica: its replication link. */
  link: 'up' | 'down' | 'syncing' | null;
  /** Replica: seconds since its master last heard from it. */
  lagSeconds: number | null;
  /** Replica: bytes of the replication stream it has not applied yet. */
  lagBytes: number | null;
  /** Master: replicas attached and online. */
  replicasOnline: number | null;
  keys: number | null;
  /** This instance takes part in a problem. */
  flagged: boolean;
}

export interface ShardStatus {
  name: string;
  /** The master the sentinels elect (a majority of the configured sentinels, engine/election.ts); null when there is no such majority. */
  master: string | null;
  /** How the answering sentinels split (plurality view, for display; the master is the election's). */
  sentinelVotes: Array<{ addr: string; sentinels: number }>;
  sentinelsAnswering: number;
  /** Why no master is elected (the election's reason), or null when one is. */
  noMasterReason: string | null;
  /** Flags a sentinel reports for this shard beyond "master" (o_down, failover_in_progress...). */
  sentinelFlags: string[];
  /** Each configured sentinel's own answer for this shard (master null: down, or does not monitor it). */
  sentinelViews: Array<{ sentinel: string; master: string | null; configEpoch: number | null; flags: string[] }>;
  /** The address nutcracker's config sends this shard to; null when the config is absent or unreadable. */
  proxyTarget: string | null;
  /** A GET through the proxy to this shard worked; null when not probed (proxy down, random distribution). */
  proxyReaches: boolean | null;
  /** With several proxies: each one's target for this shard (null: not known from this host) and reach. */
  proxies?: Array<{ listen: string; target: string | null; reaches: boolean | null; agrees: boolean | null }>;
  /** Keys on the master (DBSIZE), their fraction of all masters' keys, and the ring's prediction. */
  keys: number | null;
  keyShare: number | null;
  predictedShare: number | null;
  instances: InstanceStatus[];
  problems: string[];
}

export interface StatusReport {
  at: string;
  healthy: boolean;
  /** Every problem, each prefixed with the shard or part it concerns. */
  problems: string[];
  proxy: {
    listen: string;
    up: boolean;
    error?: string;
    local: boolean;
    config: string | null;
    configError?: string;
    /** Apply mode "haproxy": the HAProxy between nutcracker and the masters. */
    haproxy?: { up: boolean; pid: number | null; frontends: Record<string, string> };
  };
  /**
   * Client connections the proxy closed in a recent window over commands it does not support, by command,
   * with the usual cause; null when its log is not on this host.
   */
  clientRejections: ClientRejectionsReport | null;
  /** Things that work but a user should know: clients the proxy turned away, keys spread unlike the ring. */
  warnings: string[];
  /** The agent beside the proxy: running (with its PID) or not; null when the proxy runs on another host. */
  agent: { running: boolean; pid: number | null } | null;
  /** With several proxies: each one as `proxy` and `agent` above describe the first. */
  proxies?: Array<StatusReport['proxy'] & { agent: StatusReport['agent'] }>;
  sentinels: Array<{ addr: string; up: boolean; error?: string }>;
  shards: ShardStatus[];
  /** A reshard in progress in this state dir (phase, progress, epoch), or absent. */
  reshard?: ReshardStatus | null;
  /** Settings where the description and the running stack differ (ops/drift.ts); not a health problem. */
  drift?: string[];
}

export interface ReshardStatus {
  epoch: number;
  phase: string;
  startedAt: string;
  added: string[];
  removed: string[];
  keysCopied: number;
  plannedKeys: number;
  bytesCopied: number;
  lastError: string | null;
}

const IGNORED_FLAGS = new Set(['master']);

export function analyzeStatus(topo: Pick<Topology, 'shards' | 'proxy' | 'redis' | 'sentinel' | 'agent'>, o: Observations): StatusReport {
  const global: string[] = [];
  for (const s of o.sentinels) if (!s.up) global.push(`sentinel ${s.addr} is down (${s.error ?? 'no answer'})`);
  const several = o.proxies !== undefined;
  const views: ProxyObservation[] = o.proxies ?? [
    { listen: topo.proxy.listen, proxy: o.proxy, proxyConfig: o.proxyConfig, proxyLocal: o.proxyLocal, agentPid: o.agentPid, haproxy: o.haproxy ?? null },
  ];
  for (const v of views) {
    // With several proxies each problem says whose it is.
    const whose = several ? `proxy ${v.listen}: ` : '';
    if (!v.proxy.up) global.push(`proxy ${v.listen} does not answer (${v.proxy.error ?? 'no answer'})`);
    if (v.proxyLocal && v.proxyConfig.state === 'absent') global.push(`proxy config ${v.proxyConfig.file} is missing on this host`);
    // Without the agent a failover never reaches the proxy: the proxy keeps sending a shard to its dead master.
    if (v.proxyLocal && v.agentPid === null) global.push(`${whose}the agent is not running on this host: failovers will not reach the proxy (redis-shard up starts it)`);
    if (v.proxyConfig.state === 'unreadable') global.push(`proxy config ${v.proxyConfig.file} cannot be read: ${v.proxyConfig.error}`);
    if (v.haproxy && !v.haproxy.up) global.push(`${whose}haproxy does not answer on its admin socket (${v.haproxy.error ?? 'no answer'})`);
  }

  const masterKeys: Array<number | null> = [];
  const shards = topo.shards.map((spec, shardIndex): ShardStatus => {
    const problems: string[] = [];
    const flagged = new Set<string>();
    const verdict = sentinelVerdict(o.sentinels, spec.name);
    const master = verdict.master;
    if (verdict.answering === 0) problems.push('no sentinel reports a master');
    else if (master === null && !verdict.election.ok) problems.push(`no elected master: ${verdict.election.detail}`);
    else if (!verdict.unanimous) {
      const others = verdict.votes.filter((v) => v.addr !== master);
      problems.push(`sentinels disagree: ${others.map((v) => `${v.sentinels} say ${v.addr}`).join(', ')}, ${verdict.votes[0]!.sentinels} say ${master}`);
    }
    if (master !== null && !spec.instances.includes(master)) {
      problems.push(`sentinels say the master is ${master}, which is not one of the shard's instances`);
    }
    const sentinelFlags = [
      ...new Set(o.sentinels.flatMap((s) => (s.up ? (s.shards[spec.name]?.flags ?? []) : [])).filter((f) => !IGNORED_FLAGS.has(f))),
    ];
    if (sentinelFlags.length > 0) problems.push(`sentinels flag the master: ${sentinelFlags.join(', ')}`);
    for (const s of o.sentinels) {
      if (s.up && s.shards[spec.name]?.master === null) problems.push(`sentinel ${s.addr} does not monitor this shard`);
    }

    const obs = spec.instances.map((a) => o.instances[a] ?? { addr: a, up: false, error: 'not observed' });
    const masterObs = master !== null ? o.instances[master] : undefined;
    const instances = obs.map((i): InstanceStatus => {
      const r = i.replication;
      const role: Role | null = i.up && r ? r.role : null;
      const st: InstanceStatus = {
        addr: i.addr,
        up: i.up,
        role,
        replicaOf: null,
        link: null,
        lagSeconds: null,
        lagBytes: null,
        replicasOnline: null,
        keys: i.up ? (i.keys ?? null) : null,
        flagged: false,
      };
      if (i.error !== undefined) st.error = i.error;
      if (!i.up) {
        problems.push(`${i.addr} is down (${i.error ?? 'no answer'})`);
        flagged.add(i.addr);
        return st;
      }
      if (r?.role === 'master') {
        st.replicasOnline = r.replicas.filter((x) => x.state === 'online').length;
        if (master !== null && i.addr !== master) {
          problems.push(`${i.addr} reports role master, but the sentinels' master is ${master}`);
          flagged.add(i.addr);
        }
      } else if (r?.role === 'replica') {
        st.replicaOf = r.masterAddr;
        st.link = r.syncing ? 'syncing' : r.linkUp ? 'up' : 'down';
        const upstream = o.instances[r.masterAddr]?.replication;
        const seen = upstream?.role === 'master' ? upstream.replicas.find((x) => x.addr === i.addr) : undefined;
        if (seen) st.lagSeconds = seen.lag;
        else if (r.linkUp && r.lastIoSeconds !== null && r.lastIoSeconds >= 0) st.lagSeconds = r.lastIoSeconds;
        if (upstream?.role === 'master' && r.linkUp) st.lagBytes = Math.max(0, upstream.offset - r.offset);
        if (master !== null && r.masterAddr !== master) {
          problems.push(`${i.addr} replicates from ${r.masterAddr}, not from the sentinels' master ${master}`);
          flagged.add(i.addr);
        }
        if (st.link !== 'up') {
          problems.push(`${i.addr}: replication link to ${r.masterAddr} is ${st.link}`);
          flagged.add(i.addr);
        } else if (st.lagSeconds !== null && st.lagSeconds > topo.redis.minReplicasMaxLag) {
          problems.push(`${i.addr} lags ${st.lagSeconds} s behind ${r.masterAddr} (more than redis.minReplicasMaxLag ${topo.redis.minReplicasMaxLag} s)`);
          flagged.add(i.addr);
        }
      }
      return st;
    });
    if (masterObs?.up && masterObs.replication && masterObs.replication.role !== 'master') {
      problems.push(`the sentinels' master ${master} reports role ${masterObs.replication.role}`);
      flagged.add(master!);
    }
    // A master with fewer good replicas than min-replicas-to-write answers every write with NOREPLICAS: the
    // shard is up and readable, and takes no write at all.
    if (masterObs?.up && masterObs.replication?.role === 'master') {
      const need = masterObs.minReplicasToWrite ?? topo.redis.minReplicasToWrite;
      const good = masterObs.replication.replicas.filter((r) => r.state === 'online' && r.lag <= topo.redis.minReplicasMaxLag).length;
      if (need > 0 && good < need) {
        problems.push(`master ${master} refuses writes (NOREPLICAS): ${good} linked replicas, min-replicas-to-write is ${need}`);
        flagged.add(master!);
      }
    }
    const masters = instances.filter((i) => i.role === 'master');
    if (master === null && masters.length > 1) {
      problems.push(`several instances report role master: ${masters.map((m) => m.addr).join(', ')}`);
      for (const m of masters) flagged.add(m.addr);
    }

    const perProxy = views.map((v) => {
      const c = proxyShardCheck(topo, v, spec.name, master);
      problems.push(...c.problems.map((p) => (several ? `through proxy ${v.listen}: ${p}` : p)));
      if (c.flag !== null) flagged.add(c.flag);
      return { listen: v.listen, target: c.target, reaches: c.reaches, agrees: c.target === null || master === null ? null : c.target === master };
    });
    const proxyTarget = perProxy[0]!.target;

    for (const st of instances) st.flagged = flagged.has(st.addr);
    const keys = master !== null ? (instances.find((i) => i.addr === master)?.keys ?? null) : null;
    masterKeys.push(keys);
    return {
      name: spec.name,
      master,
      sentinelVotes: verdict.votes,
      sentinelsAnswering: verdict.answering,
      noMasterReason: verdict.election.ok ? null : `${verdict.election.reason}: ${verdict.election.detail}`,
      sentinelFlags,
      sentinelViews: o.sentinels.map((v) => {
        const sv = v.up ? v.shards[spec.name] : undefined;
        return { sentinel: v.addr, master: sv?.master ?? null, configEpoch: sv?.configEpoch ?? null, flags: sv?.flags ?? [] };
      }),
      proxyTarget,
      proxyReaches: perProxy[0]!.reaches,
      ...(several ? { proxies: perProxy } : {}),
      keys,
      keyShare: null,
      predictedShare: o.predictedShare?.[shardIndex] ?? null,
      instances,
      problems,
    };
  });

  // Key shares only mean something when every master was counted.
  const total = masterKeys.every((k) => k !== null) ? masterKeys.reduce<number>((a, k) => a + (k ?? 0), 0) : 0;
  if (total > 0) shards.forEach((s) => (s.keyShare = (s.keys ?? 0) / total));

  const problems = [...global, ...shards.flatMap((s) => s.problems.map((p) => `${s.name}: ${p}`))];
  const proxies = views.map((v) => ({ ...proxyReport(v), agent: v.proxyLocal ? { running: v.agentPid !== null, pid: v.agentPid } : null }));
  const { agent: _agent, ...proxy } = proxies[0]!;
  const rejected = o.rejections ? clientRejections(o.rejections.found ?? emptyRejections(o.at, o.rejections.windowMs), o.rejections.windowMs) : null;
  const warnings = [rejected ? rejectionsWarning(rejected) : null, balanceWarning(shards, topo.proxy.hash)].filter((w): w is string => w !== null);
  return {
    at: o.at.toISOString(),
    healthy: problems.length === 0,
    problems,
    proxy,
    clientRejections: rejected,
    warnings,
    agent: proxies[0]!.agent,
    ...(several ? { proxies } : {}),
    sentinels: o.sentinels.map((s) => ({ addr: s.addr, up: s.up, ...(s.error !== undefined ? { error: s.error } : {}) })),
    shards,
  };
}

function proxyReport(v: ProxyObservation): StatusReport['proxy'] {
  const proxy: StatusReport['proxy'] = {
    listen: v.listen,
    up: v.proxy.up,
    local: v.proxyLocal,
    config: v.proxyConfig.state === 'absent' ? null : v.proxyConfig.file,
  };
  if (v.haproxy) proxy.haproxy = { up: v.haproxy.up, pid: v.haproxy.pid, frontends: v.haproxy.frontends };
  if (v.proxy.error !== undefined) proxy.error = v.proxy.error;
  if (v.proxyConfig.state === 'unreadable') proxy.configError = v.proxyConfig.error;
  return proxy;
}

/** Where one proxy sends a shard, and whether that agrees with the sentinels' master and reaches the shard. */
function proxyShardCheck(
  topo: Pick<Topology, 'agent'>,
  v: ProxyObservation,
  shard: string,
  master: string | null,
): { target: string | null; reaches: boolean | null; problems: string[]; flag: string | null } {
  const problems: string[] = [];
  let target: string | null = null;
  let flag: string | null = null;
  if (v.haproxy) {
    // The proxy's target is HAProxy's backend: nutcracker points at the shard's frontend, HAProxy at the master.
    const h = haproxyShardView(v.haproxy, shard);
    target = h.target;
    problems.push(...h.problems);
    if (target !== null && master !== null && target !== master) {
      problems.push(`the proxy (through HAProxy) sends this shard to ${target}, but the sentinels' master is ${master}`);
      flag = target;
    }
  } else if (v.proxyConfig.state === 'read' && topo.agent.apply !== 'haproxy') {
    // (In mode haproxy, nutcracker.yml names HAProxy's frontends; the masters are known only to the HAProxy
    // on the proxy's host, so status run elsewhere has no proxy target to compare.)
    target = v.proxyConfig.servers[shard] ?? null;
    if (target === null) problems.push(`the proxy config has no server named ${shard}`);
    else if (master !== null && target !== master) {
      problems.push(`the proxy sends this shard to ${target}, but the sentinels' master is ${master}`);
      flag = target;
    }
  }
  const reach = v.proxy.reaches[shard] ?? null;
  if (v.proxy.up && reach && !reach.ok) problems.push(`a GET through the proxy to this shard fails: ${reach.error ?? 'error'}`);
  return { target, reaches: v.proxy.up && reach ? reach.ok : null, problems, flag };
}

function emptyRejections(at: Date, windowMs: number): ProxyRejections {
  return { since: new Date(at.getTime() - windowMs).toISOString(), connectionsClosed: 0, commands: [] };
}

/** Observe and analyze: the deployment's status as of now. */
export async function collectStatus(topo: Topology, opts: StatusOptions = {}): Promise<StatusReport> {
  const [o, drift] = await Promise.all([
    observeStatus(topo, opts),
    findDrift(topo, { ...(opts.host !== undefined ? { host: opts.host } : {}), timeoutMs: opts.timeoutMs ?? 700 }).catch(() => []),
  ]);
  return { ...withReshard(analyzeStatus(topo, o), readReshardState(topo.stateDir)), drift: drift.map(driftLine) };
}

/**
 * A reshard in progress is shown; before its commit an added shard is not in the proxy config yet (and, before
 * it starts, not monitored): that is the plan, not a problem.
 */
export function withReshard(r: StatusReport, state: ReshardState | null): StatusReport {
  if (!state) return { ...r, reshard: null };
  const pending = beforeCommit(state.phase) ? new Set(state.addedShards) : new Set<string>();
  const expected = (p: string) => /has no server named|does not monitor this shard|no sentinel reports a master|GET through the proxy/.test(p);
  const shards = r.shards.map((s) => (pending.has(s.name) ? { ...s, problems: s.problems.filter((p) => !expected(p)) } : s));
  const problems = r.problems.filter((p) => {
    const shard = p.slice(0, p.indexOf(':'));
    return !(pending.has(shard) && expected(p.slice(p.indexOf(':') + 2)));
  });
  return {
    ...r,
    shards,
    problems,
    healthy: problems.length === 0,
    reshard: {
      epoch: state.epoch,
      phase: state.phase,
      startedAt: state.startedAt,
      added: state.addedShards,
      removed: state.removedShards,
      keysCopied: state.progress.keysCopied,
      plannedKeys: state.planned.keys,
      bytesCopied: state.progress.bytesCopied,
      lastError: state.lastError,
    },
  };
}
