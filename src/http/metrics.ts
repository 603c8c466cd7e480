import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FeedListener } from './failover-feed.js';
import type { ShardFacts, SourceResult, StatusFacts } from './facts.js';
import type { NutcrackerReading, NutcrackerTotals } from './nutcracker-stats.js';

const P = 'redis_shard_';

/** Failover phases the duration histogram measures. */
export const DURATION_PHASES = ['odown_to_serving', 'promotion_to_serving'] as const;
/** The rules that move the proxy (agent.ts): fast path, majority; notify is Sentinel's client-reconfig-script. */
export const FAILOVER_PATHS = ['fast', 'majority'] as const;

/**
 * The agent's Prometheus metrics (docs/observability.md lists each with its meaning). Counters and the
 * histogram move with the agent's events as they happen; gauges are set from a status snapshot taken when
 * scraped. A registry of its own: nothing global, nothing of the process's defaults.
 */
export class AgentMetrics {
  readonly registry = new Registry();
  private readonly failovers: Counter<'shard' | 'path'>;
  private readonly durations: Histogram<'shard' | 'phase'>;
  private readonly lastFailover: Gauge<'shard'>;
  private readonly proxyRestarts: Counter;
  private readonly ncRequests: Counter<'shard'>;
  private readonly ncErrors: Counter<'shard'>;
  private readonly ncTimeouts: Counter<'shard'>;
  private readonly ncEof: Counter<'shard'>;
  private readonly ncConnections: Counter;
  private readonly ncClientErrors: Counter;
  private readonly ncForwardErrors: Counter;
  private readonly ncRestartsSeen: Counter;
  private readonly ncClientConns: Gauge;
  private readonly unsupported: Counter<'command'>;
  private readonly g: Record<string, Gauge<string>>;
  private exported: NutcrackerTotals | null = null;

  constructor(shards: string[]) {
    const r = [this.registry];
    this.failovers = new Counter({ name: `${P}failovers_total`, help: 'Failovers the agent moved the proxy for, by shard and by the rule that moved it (fast: the promoted replica answered ROLE master; majority: a majority of sentinels)', labelNames: ['shard', 'path'], registers: r });
    this.durations = new Histogram({
      name: `${P}failover_duration_seconds`,
      help: 'Failover durations measured by the agent: odown_to_serving (first +odown to the proxy serving the new master), promotion_to_serving (the new master seen as master to the proxy serving it)',
      labelNames: ['shard', 'phase'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30],
      registers: r,
    });
    this.lastFailover = new Gauge({ name: `${P}last_failover_timestamp_seconds`, help: 'When the proxy last started serving a shard from a new master (Unix time); absent until a failover in this agent', labelNames: ['shard'], registers: r });
    this.proxyRestarts = new Counter({ name: `${P}proxy_restarts_total`, help: 'nutcracker restarts made by the agent (to apply a new config, or because it had died)', registers: r });
    this.ncRequests = new Counter({ name: `${P}nutcracker_server_requests_total`, help: "Requests nutcracker sent to the shard's server, summed across nutcracker restarts", labelNames: ['shard'], registers: r });
    this.ncErrors = new Counter({ name: `${P}nutcracker_server_errors_total`, help: "nutcracker's server_err for the shard, summed across nutcracker restarts", labelNames: ['shard'], registers: r });
    this.ncTimeouts = new Counter({ name: `${P}nutcracker_server_timeouts_total`, help: "nutcracker's server_timedout for the shard (requests past proxy.timeout), summed across restarts", labelNames: ['shard'], registers: r });
    this.ncEof = new Counter({ name: `${P}nutcracker_server_eof_total`, help: "nutcracker's server_eof for the shard (the server closed the connection), summed across restarts", labelNames: ['shard'], registers: r });
    this.ncConnections = new Counter({ name: `${P}nutcracker_connections_total`, help: "nutcracker's total_connections (client connections accepted plus its own to servers), summed across restarts", registers: r });
    this.ncClientErrors = new Counter({ name: `${P}nutcracker_client_errors_total`, help: "nutcracker's client_err (client connections closed on an error, unsupported commands included), summed across restarts", registers: r });
    this.ncForwardErrors = new Counter({ name: `${P}nutcracker_forward_errors_total`, help: "nutcracker's forward_error (requests it could not forward to a server), summed across restarts", registers: r });
    this.ncRestartsSeen = new Counter({ name: `${P}nutcracker_restarts_seen_total`, help: "nutcracker restarts seen in its stats (uptime went back), whoever restarted it", registers: r });
    this.ncClientConns = new Gauge({ name: `${P}nutcracker_client_connections`, help: 'Client connections open to the proxy now', registers: r });
    this.unsupported = new Counter({ name: `${P}proxy_unsupported_command_closes_total`, help: "Client connections nutcracker closed because of a command it does not support, by command (from nutcracker's log)", labelNames: ['command'], registers: r });
    const gauge = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name: `${P}${name}`, help, labelNames, registers: r });
    this.g = {
      inSync: gauge('proxy_in_sync', "1 when the proxy sends the shard to the master the sentinels elect (a majority of the configured sentinels, highest config epoch); 0 otherwise (out of sync, or no elected master, or the proxy's config unreadable)", ['shard']),
      target: gauge('proxy_target_info', 'Where the proxy sends the shard (value 1)', ['shard', 'addr']),
      elected: gauge('elected_master_info', 'The master the sentinels elect: a majority of the configured sentinels, highest config epoch (value 1; absent when there is no such majority)', ['shard', 'addr']),
      votes: gauge('elected_master_votes', 'Sentinels that report the elected master (0 when there is none)', ['shard']),
      answering: gauge('sentinels_answering', 'Sentinels that reported a master for the shard', ['shard']),
      sentinels: gauge('sentinels_configured', 'Sentinels in the description'),
      sentinelUp: gauge('sentinel_up', '1 when the sentinel answered within its bound', ['sentinel']),
      sentinelMaster: gauge('sentinel_master_info', "Each sentinel's own answer for the shard's master (value 1)", ['shard', 'sentinel', 'addr']),
      epoch: gauge('sentinel_config_epoch', "The shard's config epoch as each sentinel reports it (bumped by every failover)", ['shard', 'sentinel']),
      instanceUp: gauge('instance_up', '1 when the Redis instance answered', ['shard', 'addr']),
      role: gauge('instance_role', "The instance's reported role: 1 for its role, 0 for the other", ['shard', 'addr', 'role']),
      linkUp: gauge('replica_link_up', "1 when the replica's link to its master is up", ['shard', 'addr']),
      linked: gauge('master_linked_replicas', 'Replicas online at the master, as the master reports them', ['shard', 'addr']),
      lagBytes: gauge('replication_lag_bytes', "Bytes of the master's replication stream the replica has not acknowledged", ['shard', 'addr']),
      lagSeconds: gauge('replication_lag_seconds', 'Seconds since the master last heard from the replica', ['shard', 'addr']),
      proxyUp: gauge('proxy_up', '1 when the proxy answered PING'),
      sourceUp: gauge('scrape_source_up', 'Each source of this scrape: 1 when it answered within its bound', ['source', 'addr']),
      sourceTimedOut: gauge('scrape_source_timed_out', 'Each source of this scrape: 1 when it did not answer within its bound (a hung process), 0 otherwise', ['source', 'addr']),
      scrapeSeconds: gauge('scrape_duration_seconds', 'How long this scrape took to ask every source'),
    };
    for (const s of shards) {
      for (const path of FAILOVER_PATHS) this.failovers.inc({ shard: s, path }, 0);
      for (const phase of DURATION_PHASES) this.durations.zero({ shard: s, phase });
      this.ncRequests.inc({ shard: s }, 0);
      this.ncErrors.inc({ shard: s }, 0);
      this.ncTimeouts.inc({ shard: s }, 0);
      this.ncEof.inc({ shard: s }, 0);
    }
  }

  /** The failover feed's hooks. */
  readonly listener: Partial<FeedListener> = {
    failover: (shard, path, at) => {
      if (path === 'fast' || path === 'majority' || path === 'notify') this.failovers.inc({ shard, path });
      this.lastFailover.set({ shard }, at / 1000);
    },
    durations: (shard, odown, promotion) => {
      if (odown !== null && odown >= 0) this.durations.observe({ shard, phase: 'odown_to_serving' }, odown);
      if (promotion !== null && promotion >= 0) this.durations.observe({ shard, phase: 'promotion_to_serving' }, promotion);
    },
    proxyRestart: () => this.proxyRestarts.inc(),
  };

  /** Adds what the accumulated nutcracker totals gained since the last call. */
  nutcracker(t: NutcrackerTotals, last: NutcrackerReading | null): void {
    const prev = this.exported;
    for (const [shard, s] of Object.entries(t.servers)) {
      const p = prev?.servers[shard];
      this.ncRequests.inc({ shard }, s.requests - (p?.requests ?? 0));
      this.ncErrors.inc({ shard }, s.errors - (p?.errors ?? 0));
      this.ncTimeouts.inc({ shard }, s.timeouts - (p?.timeouts ?? 0));
      this.ncEof.inc({ shard }, s.eof - (p?.eof ?? 0));
    }
    this.ncConnections.inc(t.connections - (prev?.connections ?? 0));
    this.ncClientErrors.inc(t.clientErrors - (prev?.clientErrors ?? 0));
    this.ncForwardErrors.inc(t.forwardErrors - (prev?.forwardErrors ?? 0));
    this.ncRestartsSeen.inc(t.restartsSeen - (prev?.restartsSeen ?? 0));
    if (last) this.ncClientConns.set(last.clientConnections);
    this.exported = structuredClone(t);
  }

  unsupportedCommand(command: string, n = 1): void {
    this.unsupported.inc({ command }, n);
  }

  /** The text exposition, gauges set from this snapshot (null: the snapshot itself failed). */
  async render(snap: StatusFacts | null, sources: SourceResult[], scrapeSeconds: number, sentinelCount: number): Promise<string> {
    for (const g of Object.values(this.g)) g.reset();
    this.g.sentinels!.set(sentinelCount);
    if (snap) {
      this.g.proxyUp!.set(snap.proxy.up ? 1 : 0);
      for (const s of snap.sentinels) this.g.sentinelUp!.set({ sentinel: s.addr }, s.up ? 1 : 0);
      for (const sh of snap.shards) this.shard(sh);
    }
    for (const s of sources) {
      this.g.sourceUp!.set({ source: s.source, addr: s.addr }, s.up ? 1 : 0);
      this.g.sourceTimedOut!.set({ source: s.source, addr: s.addr }, s.timedOut ? 1 : 0);
    }
    this.g.scrapeSeconds!.set(scrapeSeconds);
    return this.registry.metrics();
  }

  private shard(sh: ShardFacts): void {
    const shard = sh.name;
    const g = this.g;
    g.inSync!.set({ shard }, sh.master !== null && sh.proxyTarget === sh.master ? 1 : 0);
    if (sh.proxyTarget !== null) g.target!.set({ shard, addr: sh.proxyTarget }, 1);
    if (sh.master !== null) g.elected!.set({ shard, addr: sh.master }, 1);
    g.votes!.set({ shard }, sh.master !== null ? (sh.sentinelVotes.find((v) => v.addr === sh.master)?.sentinels ?? 0) : 0);
    g.answering!.set({ shard }, sh.sentinelsAnswering);
    for (const v of sh.sentinelViews) {
      if (v.master !== null) g.sentinelMaster!.set({ shard, sentinel: v.sentinel, addr: v.master }, 1);
      if (v.configEpoch !== null) g.epoch!.set({ shard, sentinel: v.sentinel }, v.configEpoch);
    }
    for (const i of sh.instances) {
      const addr = i.addr;
      g.instanceUp!.set({ shard, addr }, i.up ? 1 : 0);
      if (i.role !== null) {
        g.role!.set({ shard, addr, role: 'master' }, i.role === 'master' ? 1 : 0);
        g.role!.set({ shard, addr, role: 'replica' }, i.role === 'replica' ? 1 : 0);
      }
      if (i.role === 'master' && i.replicasOnline !== null) g.linked!.set({ shard, addr }, i.replicasOnline);
      if (i.role === 'replica') {
        g.linkUp!.set({ shard, addr }, i.link === 'up' ? 1 : 0);
        if (i.lagBytes !== null) g.lagBytes!.set({ shard, addr }, i.lagBytes);
        if (i.lagSeconds !== null) g.lagSeconds!.set({ shard, addr }, i.lagSeconds);
      }
    }
  }
}
