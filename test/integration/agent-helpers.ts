import { readFileSync } from 'node:fs';
import { answerOf, elect, pairsToObject, querySentinels, votesFor } from '../../src/engine/index.js';
import { readHaproxyServers, readPoolServers } from '../../src/render/index.js';
import { canBind, ourPid, redisClient, waitFor } from '../../src/runtime/index.js';
import { agentPaths, haproxyPaths, proxyPaths, redisPaths, type DescriptionInput, type Topology } from '../../src/topology/index.js';

/** Helpers shared by the agent's integration tests. */

export type Ev = Record<string, unknown> & { ts: string; event: string };

export function readEvents(topo: Topology): Ev[] {
  try {
    return readFileSync(agentPaths(topo.stateDir).events, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Ev);
  } catch {
    return [];
  }
}

/** Events after index `from` (so each test looks only at what it caused). */
export function eventsSince(topo: Topology, from: number): Ev[] {
  return readEvents(topo).slice(from);
}

/**
 * Where the proxy sends each shard per its config: nutcracker.yml's servers; in apply mode "haproxy"
 * (nutcracker points at HAProxy's frontends) haproxy.cfg's, which the agent writes before each switch.
 */
export function proxyServers(topo: Topology, path?: string): Record<string, string> {
  if (path === undefined && topo.agent.apply === 'haproxy') return readHaproxyServers(readFileSync(haproxyPaths(topo.stateDir).conf, 'utf8'));
  return Object.fromEntries(readPoolServers(readFileSync(path ?? proxyPaths(topo.stateDir).conf, 'utf8'), topo.proxy.name).map((s) => [s.name, s.addr]));
}

/** What each sentinel answers for the shard (null when it does not answer): the one query of engine/. */
export async function sentinelView(topo: Topology, shard: string): Promise<Array<string | null>> {
  const reports = await querySentinels(topo.sentinel.instances, [shard], null, 300);
  return reports.map((r) => {
    const a = answerOf(r, shard);
    return a.ok ? a.addr : null;
  });
}

/** The elected master (engine's election: majority of all sentinels, highest config-epoch), or null. */
export async function majorityMaster(topo: Topology, shard: string): Promise<string | null> {
  const reports = await querySentinels(topo.sentinel.instances, [shard], null, 300);
  const e = elect(votesFor(reports, shard), topo.sentinel.instances.length);
  return e.ok ? e.master : null;
}

export async function sentinelMasterInfo(topo: Topology, sentinel: string, shard: string): Promise<Record<string, string>> {
  const c = redisClient(sentinel, null, { timeoutMs: 500 });
  try {
    return pairsToObject(await c.call('SENTINEL', 'MASTER', shard));
  } finally {
    c.disconnect();
  }
}

export function redisPid(topo: Topology, addr: string): number {
  const pid = ourPid(redisPaths(topo.stateDir, addr).pid, topo.stateDir);
  if (pid === null) throw new Error(`${addr} is not running`);
  return pid;
}

export function proxyPid(topo: Topology): number | null {
  return ourPid(proxyPaths(topo.stateDir).pid, topo.stateDir);
}

export function agentPid(topo: Topology): number | null {
  return ourPid(agentPaths(topo.stateDir).pid, topo.stateDir);
}

/** SET through the proxy, then read the key on `addr` directly: proves the proxy sends the shard there. */
export async function proxyWritesTo(topo: Topology, key: string, addr: string): Promise<boolean> {
  return writesLandOn(topo.proxy.listen, key, addr);
}

/** SET through the proxy at `proxy`, then read the key on `addr` directly (one of several proxies). */
export async function writesLandOn(proxy: string, key: string, addr: string): Promise<boolean> {
  const p = redisClient(proxy, null, { timeoutMs: 500 });
  const d = redisClient(addr, null, { timeoutMs: 500 });
  try {
    const v = `v${Date.now()}${Math.random()}`;
    if ((await p.set(key, v)) !== 'OK') return false;
    return (await d.get(key)) === v;
  } catch {
    return false;
  } finally {
    p.disconnect();
    d.disconnect();
  }
}

/**
 * Waits until a failover of `shard` away from `old` is complete as everyone sees it: a majority of sentinels
 * report a new master, every sentinel reports it with the failover no longer in progress, and the proxy
 * config names it. Returns the new master.
 */
export async function waitFailoverDone(topo: Topology, shard: string, old: string, timeoutMs = 30_000): Promise<string> {
  return waitFor(
    async () => {
      const m = await majorityMaster(topo, shard);
      if (m === null || m === old) return undefined;
      if (proxyServers(topo)[shard] !== m) return undefined;
      return m;
    },
    { timeoutMs, intervalMs: 50, what: `the failover of ${shard} away from ${old} to reach the proxy config` },
  );
}

/** A diagnostic dump for failed assertions: the agent's events and log tail, the sentinels' view. */
export async function diagnose(topo: Topology): Promise<string> {
  const views = await Promise.all(topo.shards.map(async (s) => `${s.name}: ${JSON.stringify(await sentinelView(topo, s.name))}`));
  let log = '';
  try {
    log = readFileSync(agentPaths(topo.stateDir).log, 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    /* none */
  }
  const ev = readEvents(topo)
    .slice(-60)
    .map((e) => JSON.stringify(e).slice(0, 400))
    .join('\n');
  let conf = '';
  try {
    conf = readFileSync(proxyPaths(topo.stateDir).conf, 'utf8');
  } catch {
    /* none */
  }
  return `--- sentinels\n${views.join('\n')}\n--- proxy config\n${conf}\n--- agent log\n${log}\n--- events\n${ev}`;
}

/**
 * `n` ports from [from, to] that can all be bound right now, in random order. The range is below the kernel's
 * ephemeral range, but a stack some other run left behind may still hold ports in it; picking free ones keeps
 * this file from failing on that.
 */
export async function pickFreePorts(from: number, to: number, n: number): Promise<number[]> {
  const free = (port: number) => canBind('127.0.0.1', port);
  const all = Array.from({ length: to - from + 1 }, (_, i) => from + i).sort(() => Math.random() - 0.5);
  const out: number[] = [];
  for (const p of all) {
    if (out.length === n) break;
    if (await free(p)) out.push(p);
  }
  if (out.length < n) throw new Error(`only ${out.length} of ${n} ports free in ${from}-${to}`);
  return out;
}

/** A two-shard description on ports picked by pickFreePorts (same shape as testDescription), HAProxy frontends included. */
export async function freePortDescription(from: number, to: number): Promise<Partial<DescriptionInput>> {
  const p = (await pickFreePorts(from, to, 13)).map((x) => `127.0.0.1:${x}`);
  return {
    shards: [
      { name: 's1', master: p[0]!, instances: [p[0]!, p[1]!, p[2]!] },
      { name: 's2', master: p[3]!, instances: [p[3]!, p[4]!, p[5]!] },
    ],
    sentinel: { instances: [p[6]!, p[7]!, p[8]!], quorum: 2, downAfterMilliseconds: 1000, failoverTimeout: 10000 },
    // HAProxy's frontends (apply mode haproxy) are picked too: derived ones could land on a port picked above.
    proxy: { listen: p[9]!, stats: p[10]!, haproxy: { frontends: { s1: p[11]!, s2: p[12]! } } },
  };
}

/**
 * Processes a test freezes with SIGSTOP. `cont()` lets every one go on again: call it on failure and in the
 * clean-up, before `down`, which stops processes by SIGTERM.
 */
export class Freezer {
  private readonly pids: number[] = [];

  freeze(pid: number): void {
    process.kill(pid, 'SIGSTOP');
    this.pids.push(pid);
  }

  get frozen(): number {
    return this.pids.length;
  }

  cont(): void {
    for (const p of this.pids.splice(0)) {
      try {
        process.kill(p, 'SIGCONT');
      } catch {
        /* gone */
      }
    }
  }
}
