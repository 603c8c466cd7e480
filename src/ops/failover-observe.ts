/**
 * What failure scenarios look at, from the outside: the sentinels' view of each shard, the proxy's config,
 * ROLE on instances, +switch-master as it is published, and the agent's events file. Nothing here changes
 * the stack.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { answerOf, describeFailure, elect, majorityOf as majorityOfCount, parseRoleReply, parseSentinelEvent, querySentinels, votesFor, type RoleInfo } from '../engine/index.js';
import { readHaproxyServers, readPoolServers } from '../render/index.js';
import { localParts, notReadyReason, readBackends, redisClient, withClient } from '../runtime/index.js';
import { agentPaths, allProxies, haproxyPaths, proxyPaths, proxyView, type ShardSpec, type Topology } from '../topology/index.js';

/** One sentinel's answer for one shard. */
export type SentinelAnswer = { addr: string; configEpoch: number; failoverInProgress: boolean } | { error: string };

export interface ShardView {
  shard: string;
  /** The elected master (engine/election.ts: majority of all listed sentinels, highest config-epoch), or null. */
  master: string | null;
  /** Sentinels reporting the elected master (0 when none is elected). */
  votes: number;
  /** Highest config-epoch any sentinel reports for the shard. */
  configEpoch: number | null;
  /** Whether every sentinel answered, with the same address, and none is in a failover. */
  unanimous: boolean;
  /** Why no master is elected, or null. */
  noMaster: string | null;
  answers: Record<string, SentinelAnswer>;
}

export function majorityOf(topo: Topology): number {
  return majorityOfCount(topo.sentinel.instances.length);
}

/** Asks every sentinel for each shard's master and config-epoch (the one query), and elects each shard's master. */
export async function sentinelView(topo: Topology, password: string | null, timeoutMs = 500): Promise<Record<string, ShardView>> {
  const reports = await querySentinels(topo.sentinel.instances, topo.shards.map((s) => s.name), password, timeoutMs);
  const views: Record<string, ShardView> = {};
  for (const shard of topo.shards) {
    const answers: Record<string, SentinelAnswer> = {};
    let epoch: number | null = null;
    for (const r of reports) {
      const a = answerOf(r, shard.name);
      answers[r.sentinel] = a.ok ? { addr: a.addr, configEpoch: a.epoch, failoverInProgress: a.failoverInProgress } : { error: describeFailure(a.failure) };
      if (a.ok) epoch = Math.max(epoch ?? 0, a.epoch);
    }
    const e = elect(votesFor(reports, shard.name), topo.sentinel.instances.length);
    const all = Object.values(answers);
    views[shard.name] = {
      shard: shard.name,
      master: e.ok ? e.master : null,
      votes: e.ok ? e.agreeing : 0,
      configEpoch: epoch,
      unanimous: e.ok && e.agreeing === topo.sentinel.instances.length && all.every((a) => 'addr' in a && !a.failoverInProgress),
      noMaster: e.ok ? null : `${e.reason}: ${e.detail}`,
      answers,
    };
  }
  return views;
}

export function describeAnswers(v: ShardView): string {
  return Object.entries(v.answers)
    .map(([s, a]) => `${s}=${'addr' in a ? `${a.addr}@${a.configEpoch}${a.failoverInProgress ? ' (failover in progress)' : ''}` : a.error}`)
    .join(', ');
}

export async function roleOf(addr: string, password: string | null, timeoutMs = 300): Promise<RoleInfo | { error: string }> {
  try {
    return parseRoleReply(await withClient(addr, password, (c) => c.call('ROLE'), { timeoutMs }));
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/**
 * Where the proxy sends each shard now, by shard name: nutcracker's server addresses; in apply mode "haproxy",
 * HAProxy's live backend addresses (nutcracker points at HAProxy's frontends), or its file's when it does not
 * answer.
 */
export async function proxyServers(topo: Topology): Promise<Record<string, string>> {
  if (topo.agent.apply === 'haproxy') {
    try {
      return Object.fromEntries(Object.entries(await readBackends(topo)).filter(([, b]) => !b.maint).map(([k, b]) => [k, b.addr]));
    } catch {
      try {
        return readHaproxyServers(readFileSync(haproxyPaths(topo.proxyDir).conf, 'utf8'));
      } catch {
        return {};
      }
    }
  }
  const conf = proxyPaths(topo.proxyDir).conf;
  try {
    return Object.fromEntries(readPoolServers(readFileSync(conf, 'utf8'), topo.proxy.name).map((s) => [s.name, s.addr]));
  } catch {
    return {};
  }
}

/**
 * Why the stack is not healthy enough to start a scenario, or null: every instance up and linked (runtime's
 * readiness), and per shard every sentinel names the same master and is not in a failover, ROLE on it says
 * master, every other instance is a replica linked to it, and the proxy config points at it.
 */
export async function unhealthyReason(topo: Topology, password: string | null): Promise<string | null> {
  const here = localParts(topo);
  const ready = await notReadyReason(topo, here, password);
  if (ready !== null) return ready;
  const views = await sentinelView(topo, password);
  // One proxy: its config, wherever status runs (as always). Several: each one on this host (the others are
  // checked through their writes by the failover rounds).
  const proxies = allProxies(topo).length === 1
    ? [{ label: 'proxy config', servers: await proxyServers(topo) }]
    : await Promise.all(here.proxies.map(async (p) => ({ label: `proxy ${p.listen}`, servers: await proxyServers(proxyView(topo, p)) })));
  for (const shard of topo.shards) {
    const v = views[shard.name]!;
    if (!v.unanimous || v.master === null) return `sentinels do not all agree on ${shard.name}'s master yet (${describeAnswers(v)})`;
    const role = await roleOf(v.master, password);
    if (!('role' in role) || role.role !== 'master') return `${shard.name}: ROLE on ${v.master} says ${'role' in role ? role.role : role.error}`;
    for (const i of shard.instances.filter((x) => x !== v.master)) {
      const r = await roleOf(i, password);
      if (!('role' in r) || r.role !== 'slave' || r.master !== v.master || r.linkState !== 'connected') {
        return `${shard.name}: ${i} is not a linked replica of ${v.master} (${'role' in r ? JSON.stringify(r) : r.error})`;
      }
    }
    for (const o of proxies) {
      if (o.servers[shard.name] !== v.master) return `${o.label} sends ${shard.name} to ${o.servers[shard.name] ?? 'nothing'}, sentinels say ${v.master}`;
    }
  }
  return null;
}

/** A +switch-master seen on one sentinel's channel. */
export interface SwitchSeen {
  at: number;
  sentinel: string;
  shard: string;
  from: string;
  to: string;
}

/**
 * Subscribes to +switch-master on every sentinel, independently of the agent, so a scenario can count the
 * failovers a kill caused: distinct from -> to pairs per shard (each sentinel publishes the same switch).
 */
export class SwitchWatch {
  readonly seen: SwitchSeen[] = [];
  private readonly clients: Redis[] = [];

  static async start(topo: Topology, password: string | null): Promise<SwitchWatch> {
    const w = new SwitchWatch();
    await Promise.all(
      topo.sentinel.instances.map(async (s) => {
        const c = redisClient(s, password, { reconnect: true, timeoutMs: 1000 });
        w.clients.push(c);
        c.on('message', (channel: string, message: string) => {
          const ev = parseSentinelEvent(channel, message);
          if (ev.kind === 'switch-master') w.seen.push({ at: performance.now(), sentinel: s, shard: ev.shard, from: ev.from, to: ev.to });
        });
        await c.subscribe('+switch-master');
      }),
    );
    return w;
  }

  /**
   * Failovers of `shard` seen at or after `since`, in order. Every sentinel publishes the same switch, so a new
   * failover starts where the from -> to pair changes.
   */
  failovers(shard: string, since = 0, until = Infinity): Array<{ from: string; to: string }> {
    const out: Array<{ from: string; to: string }> = [];
    for (const s of this.seen) {
      if (s.shard !== shard || s.at < since || s.at > until) continue;
      const prev = out[out.length - 1];
      if (!prev || prev.from !== s.from || prev.to !== s.to) out.push({ from: s.from, to: s.to });
    }
    return out;
  }

  stop(): void {
    for (const c of this.clients) c.disconnect();
  }
}

/** The agent's failover-timings record (src/agent/timeline.ts). Times in ms; relative ones are to the first +switch-master. */
export interface AgentTimings {
  ts: string;
  shard: string;
  from: string | null;
  to: string | null;
  path: string | null;
  writtenMs: number | null;
  servingMs: number | null;
  odownToServingMs: number | null;
  selectedToServingMs: number | null;
  promotedToServingMs: number | null;
  odownToSwitchSeenMs: number | null;
}

/** Where the agent's events file ends now: events after a kill are read from here on. */
export function eventsOffset(topo: Topology): number {
  try {
    return statSync(agentPaths(topo.proxyDir).events).size;
  } catch {
    return 0;
  }
}

/** The agent's events written since `offset`, parsed; lines that are not JSON are skipped. */
export function readAgentEvents(topo: Topology, offset: number): Array<Record<string, unknown>> {
  const file = agentPaths(topo.proxyDir).events;
  if (!existsSync(file)) return [];
  const text = readFileSync(file).subarray(offset).toString('utf8');
  const out: Array<Record<string, unknown>> = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const v: unknown = JSON.parse(line);
      if (v && typeof v === 'object') out.push(v as Record<string, unknown>);
    } catch {
      /* a line being written, or not ours */
    }
  }
  return out;
}

/** The agent's timing record for the failover of `shard` to `to`, among events since `offset`, or null. */
export function agentTimings(topo: Topology, offset: number, shard: string, to: string | null): AgentTimings | null {
  const found = readAgentEvents(topo, offset).filter(
    (e) => e.event === 'failover-timings' && e.shard === shard && (to === null || e.to === to),
  );
  return (found[0] as unknown as AgentTimings | undefined) ?? null;
}

export function shardOfAddr(topo: Topology, addr: string): ShardSpec | undefined {
  return topo.shards.find((s) => s.instances.includes(addr));
}
