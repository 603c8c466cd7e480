// Over 250 lines on purpose: up for this host, in start order with readiness and the checks before it (ports, ring, frontends); down is stack-down.ts.
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { EnvironmentError, InvalidInputError, TransientError } from '../errors.js';
import { nutcrackerTargets, renderNutcrackerYml, renderRedisConf, renderSentinelConf, ringDifferences, sameRingYml } from '../render/index.js';
import {
  agentPaths, allProxies, haproxyPaths, mustParseAddress, proxyPaths, proxyView, readPassword, redisPaths, sentinelPaths,
  type ProxyInstance, type Topology,
} from '../topology/index.js';
import { alignNutcrackerTargets, haproxyFrontendsMoved, startHaproxyPart } from './haproxy-part.js';
import { atomicWriteFile } from './atomic-write.js';
import { expectedRings } from './reshard-ring.js';
import { builtEntry } from './entry-points.js';
import { requireBinary } from './binaries.js';
import { allHosts, localParts, type LocalParts } from './host.js';
import { acquireStackLock, describeHolder } from './stack-lock.js';
import { prepareStateDir } from './state-dir.js';
import { currentMasters } from './masters.js';
import { checkNutcrackerConf, spawnNutcracker, tail, waitNutcrackerListening } from './nutcracker.js';
import { isAlive, ourPid, spawnDetached, type Spawned } from './process.js';
import { stopPid } from './stop.js';
import { waitForStackReady } from './ready.js';
import { tuneSentinel } from './sentinel-tuning.js';
import { withClient } from './redis-client.js';
import { canBind, waitFor } from './wait.js';


export type PartKind = 'redis' | 'sentinel' | 'haproxy' | 'proxy' | 'agent';
export interface Part {
  kind: PartKind;
  /** host:port; for the agent 'agent' (one proxy) or its proxy's listen address; for haproxy, its frontends. */
  addr: string;
  pidFile: string;
  /** haproxy, proxy and agent parts: the proxy they belong to. */
  proxy?: ProxyInstance;
}

export interface UpOptions {
  host?: string;
  /** How long to wait for the whole stack to be ready. */
  timeoutMs?: number;
  /** Start the agent (default true). */
  agent?: boolean;
  /** Progress lines for the operator. */
  log?: (line: string) => void;
  /** Aborting (Ctrl-C) stops what this call started, like any other failure. */
  signal?: AbortSignal;
  /** How long to wait for another command holding the state dir's lock (default 10 s). */
  lockWaitMs?: number;
}

export interface UpResult {
  started: Part[];
  alreadyRunning: Part[];
  parts: LocalParts;
}

/** The processes of this host's parts, in start order. */
export function partsOf(topo: Topology, parts: LocalParts, withAgent: boolean): Part[] {
  const out: Part[] = [
    ...parts.redis.map((addr) => ({ kind: 'redis' as const, addr, pidFile: redisPaths(topo.stateDir, addr).pid })),
    ...parts.sentinels.map((addr) => ({ kind: 'sentinel' as const, addr, pidFile: sentinelPaths(topo.stateDir, addr).pid })),
  ];
  const several = allProxies(topo).length > 1;
  for (const proxy of parts.proxies) {
    if (topo.agent.apply === 'haproxy') {
      out.push({ kind: 'haproxy', addr: Object.values(proxy.frontends).join(','), pidFile: haproxyPaths(proxy.dir).pid, proxy });
    }
    out.push({ kind: 'proxy', addr: proxy.listen, pidFile: proxyPaths(proxy.dir).pid, proxy });
    if (withAgent) out.push({ kind: 'agent', addr: several ? proxy.listen : 'agent', pidFile: agentPaths(proxy.dir).supervisorPid, proxy });
  }
  return out;
}

/** The topology as the proxy of a haproxy/proxy/agent part sees it (paths, ports, frontends). */
function viewOf(topo: Topology, part: Part): Topology {
  return part.proxy === undefined ? topo : proxyView(topo, part.proxy);
}

/**
 * Starts whatever of this host's parts is not running, and waits until the stack is ready. Configs are
 * rendered only for parts that have none yet, from the current masters, so failovers are kept. On any
 * failure, what this call started is stopped and the configs it rendered are removed.
 */
export async function up(topo: Topology, opts: UpOptions = {}): Promise<UpResult> {
  const log = opts.log ?? (() => {});
  const parts = localParts(topo, opts.host);
  if (parts.redis.length === 0 && parts.sentinels.length === 0 && !parts.proxy) {
    throw new InvalidInputError(
      `none of the addresses in ${topo.file ?? 'the default deployment'} is on this host (its hosts: ${allHosts(topo).join(', ')}); run up on one of those hosts, or give --host to act as one of them; nothing was started`,
    );
  }
  const password = readPassword(topo);
  const binaries = {
    redis: requireBinary('redis-server'),
    sentinel: requireBinary('redis-sentinel'),
    nutcracker: requireBinary('nutcracker'),
    ...(topo.agent.apply === 'haproxy' && parts.proxy ? { haproxy: requireBinary('haproxy') } : {}),
  };
  prepareStateDir(topo.stateDir);
  const lock = await acquireStackLock(topo.stateDir, 'up', {
    host: opts.host,
    waitMs: opts.lockWaitMs ?? 10_000,
    onWait: (h) => log(`waiting: ${describeHolder(h)} holds the lock on ${topo.stateDir}`),
    signal: opts.signal,
  });
  try {
    return await upLocked(topo, parts, password, binaries, { ...opts, log, signal: opts.signal ? AbortSignal.any([opts.signal, lock.signal]) : lock.signal });
  } catch (e) {
    if (lock.signal.aborted && !opts.signal?.aborted) {
      throw new TransientError(`stopped: another command (down) asked this up to stop; what it had started was stopped again`, { cause: e });
    }
    throw e;
  } finally {
    lock.release();
  }
}

async function upLocked(
  topo: Topology,
  parts: LocalParts,
  password: string | null,
  binaries: { redis: string; sentinel: string; nutcracker: string },
  opts: UpOptions & { log: (line: string) => void },
): Promise<UpResult> {
  const log = opts.log;
  const all = partsOf(topo, parts, opts.agent !== false);
  const alreadyRunning = all.filter((p) => ourPid(p.pidFile, topo.stateDir) !== null);
  const toStart = all.filter((p) => !alreadyRunning.includes(p));
  for (const part of alreadyRunning.filter((p) => p.kind === 'haproxy')) {
    const moved = haproxyFrontendsMoved(viewOf(topo, part));
    if (moved !== null) {
      throw new InvalidInputError(
        `${topo.file ?? '(default deployment)'}: ${part.proxy!.field}.haproxy.frontends changed while HAProxy runs (${moved}); ports change only while stopped: run down, then up; nothing was started`,
      );
    }
  }
  await checkPortsFree(topo, toStart);
  for (const part of toStart.filter((p) => p.kind === 'proxy')) checkProxyRing(viewOf(topo, part));

  const started: Array<Part & { pid: number }> = [];
  const rendered: string[] = [];
  try {
    const { masters, source } = await currentMasters(topo, password);
    rendered.push(...renderMissingConfigs(topo, toStart, masters, password));
    const startOne = async (part: Part, spawn: () => Promise<Spawned>, ready: (s: Spawned) => Promise<void>) => {
      if (opts.signal?.aborted) throw new TransientError('interrupted');
      const s = await spawn();
      started.push({ ...part, pid: s.pid });
      await ready(s);
      log(`started ${part.kind} ${part.addr} (pid ${s.pid})`);
    };

    await Promise.all(
      toStart.filter((p) => p.kind === 'redis').map((part) => {
        const paths = redisPaths(topo.stateDir, part.addr);
        const shard = topo.shards.find((s) => s.instances.includes(part.addr))!;
        const master = masters[shard.name]!;
        return startOne(
          part,
          () => spawnDetached({ bin: binaries.redis, args: redisArgs(paths.conf, part.addr, master, source[shard.name]), logFile: paths.log, pidFile: paths.pid, cwd: paths.dir, stateDir: topo.stateDir }),
          (s) => waitPing(part.addr, password, s, paths.log, opts.signal),
        );
      }),
    );
    await Promise.all(
      toStart.filter((p) => p.kind === 'sentinel').map((part) => {
        const paths = sentinelPaths(topo.stateDir, part.addr);
        return startOne(
          part,
          () => spawnDetached({ bin: binaries.sentinel, args: [paths.conf], logFile: paths.log, pidFile: paths.pid, cwd: paths.dir, stateDir: topo.stateDir }),
          (s) => waitPing(part.addr, password, s, paths.log, opts.signal),
        );
      }),
    );
    for (const part of toStart.filter((p) => p.kind === 'haproxy')) {
      await startOne(part, () => startHaproxyPart(viewOf(topo, part), masters), async () => {});
    }
    for (const part of toStart.filter((p) => p.kind === 'proxy')) alignNutcrackerTargets(viewOf(topo, part), masters);
    for (const part of toStart.filter((p) => p.kind === 'proxy')) {
      const view = viewOf(topo, part);
      const paths = proxyPaths(view.proxyDir);
      const check = await checkNutcrackerConf(paths.conf);
      if (!check.ok) throw new InvalidInputError(`${paths.conf}: nutcracker rejects it: ${check.error}`);
      await startOne(part, () => spawnNutcracker(view), (s) => waitNutcrackerListening(view, s));
    }
    for (const part of toStart.filter((p) => p.kind === 'agent')) {
      const view = viewOf(topo, part);
      await startOne(part, () => spawnAgent(view), async (s) => {
        const a = agentPaths(view.proxyDir);
        await waitFor(() => ourPid(a.pid, topo.stateDir) !== null, {
          timeoutMs: 10_000,
          what: 'the agent to start',
          abortOn: s.exited.then(() => `its supervisor exited; ${tail(a.log)}`),
          signal: opts.signal,
        });
      });
    }
    for (const addr of parts.sentinels) {
      const problem = await tuneSentinel(addr, password, topo);
      if (problem) log(`warning: ${problem}`);
    }
    await waitForStackReady(topo, parts, password, { timeoutMs: opts.timeoutMs ?? 60_000, log, signal: opts.signal });
  } catch (e) {
    for (const p of [...started].reverse()) await stopPid(p.pid, { graceMs: 5000 });
    for (const path of rendered) rmSync(path, { force: true });
    throw e;
  }
  return { started: started.map(({ pid: _pid, ...p }) => p), alreadyRunning, parts };
}

/**
 * Renders the config of each part that has none yet, from `masters` (the current master of each shard), and
 * returns the paths it wrote so a caller that fails later can remove them. Existing configs are never touched:
 * Redis and Sentinel rewrite their own, and after a failover those rewrites are the truth. `up` and
 * `services install` both use this, so a deployment run by systemd has exactly the files `up` would make.
 * With a password every rendered file and its folder are private to the owner: Redis and Sentinel rewrite
 * their configs with mode 0644 & ~umask, so the folder is what keeps a rewritten file's secret private.
 */
export function renderMissingConfigs(topo: Topology, parts: Part[], masters: Record<string, string>, password: string | null): string[] {
  const rendered: string[] = [];
  const secretMode = password !== null ? 0o600 : 0o644;
  const renderOnce = (path: string, text: () => string) => {
    if (password !== null) {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      chmodSync(dirname(path), 0o700);
    }
    if (existsSync(path)) return;
    atomicWriteFile(path, text(), { mode: secretMode });
    rendered.push(path);
  };
  for (const part of parts) {
    if (part.kind === 'redis') {
      const shard = topo.shards.find((s) => s.instances.includes(part.addr))!;
      const master = masters[shard.name] ?? shard.master;
      renderOnce(redisPaths(topo.stateDir, part.addr).conf, () =>
        renderRedisConf(topo, { addr: part.addr, replicaOf: master === part.addr ? null : master, password }),
      );
    } else if (part.kind === 'sentinel') {
      renderOnce(sentinelPaths(topo.stateDir, part.addr).conf, () => renderSentinelConf(topo, { addr: part.addr, masters, password }));
    } else if (part.kind === 'proxy') {
      const view = viewOf(topo, part);
      renderOnce(proxyPaths(view.proxyDir).conf, () => renderNutcrackerYml(view, nutcrackerTargets(view, masters), password));
    }
  }
  return rendered;
}

/**
 * A restarted instance whose conf says "master" while the sentinels have elected another would take writes
 * for ~10 s until Sentinel demotes it; starting it as a replica of the elected master closes that window. On a
 * full restart no sentinel answers yet, so the master is the one their own config files recorded.
 */
function redisArgs(conf: string, addr: string, master: string, source: string | undefined): string[] {
  if ((source !== 'sentinels' && source !== 'sentinel-config') || master === addr) return [conf];
  const m = mustParseAddress(master);
  return [conf, '--replicaof', m.host, String(m.port)];
}

async function waitPing(addr: string, password: string | null, s: Spawned, logFile: string, abort?: AbortSignal): Promise<void> {
  await waitFor(
    () => withClient(addr, password, async (c) => (await c.ping()) === 'PONG', { timeoutMs: 500 }),
    {
      timeoutMs: 30_000,
      intervalMs: 20,
      what: `${addr} to answer PING`,
      abortOn: s.exited.then(({ code, signal }) => `the process exited (${signal ?? `code ${code}`}); ${tail(logFile)}`),
      signal: abort,
    },
  );
}

async function spawnAgent(topo: Topology): Promise<Spawned> {
  const a = agentPaths(topo.proxyDir);
  // An agent whose supervisor died keeps running; a second one beside it would fight over the proxy.
  const orphan = ourPid(a.pid, topo.stateDir);
  if (orphan !== null) await stopPid(orphan, { graceMs: 5000 });
  const main = builtEntry('cli/main.js');
  const supervisor = builtEntry('runtime/supervisor-main.js');
  // With several proxies each has its own agent, told which one it keeps.
  const which = allProxies(topo).length > 1 ? ['--proxy', topo.proxy.listen] : [];
  const agentArgv = [process.execPath, main, ...(topo.file ? ['-c', topo.file] : []), 'agent', ...which];
  return spawnDetached({
    bin: process.execPath,
    args: [supervisor, a.pid, a.log, '--', ...agentArgv],
    logFile: a.log,
    pidFile: a.supervisorPid,
    cwd: process.cwd(),
    stateDir: topo.stateDir,
  });
}

/**
 * A nutcracker.yml kept from an earlier run (the agent's, or a hand edit) must place keys as the description
 * does: one that renamed or dropped a shard, or changed the hash, passes `nutcracker -t` and then serves keys
 * from the wrong shard. Checked before anything starts.
 */
function checkProxyRing(topo: Topology): void {
  const conf = proxyPaths(topo.proxyDir).conf;
  if (!existsSync(conf)) return;
  const text = readFileSync(conf, 'utf8');
  // A reshard in progress records the ring the proxy serves until (and from) its cut: that one is right then.
  const during = expectedRings(topo.stateDir);
  if (during?.some((r) => sameRingYml(text, r, topo.proxy.name))) return;
  const diffs = ringDifferences(text, topo);
  if (diffs.length > 0) {
    throw new InvalidInputError(
      `${conf}: it would place keys on other shards than the description: ${diffs.join('; ')}. ` +
        `Put it back as it was (a copy the agent replaced is kept as ${conf}.rejected), or change the description; nothing was started`,
    );
  }
}

/** A port is free when we can bind it ourselves; anything holding it that is not our own process is a stranger. */
async function checkPortsFree(topo: Topology, parts: Part[]): Promise<void> {
  const taken: string[] = [];
  for (const p of parts) {
    const addrs =
      p.kind === 'agent' ? [] : p.kind === 'proxy' ? [p.proxy!.listen, p.proxy!.stats] : p.kind === 'haproxy' ? Object.values(p.proxy!.frontends) : [p.addr];
    for (const addr of addrs) {
      const { host, port } = mustParseAddress(addr);
      if (!(await canBind(host, port))) taken.push(`${addr} (${p.kind})`);
    }
  }
  if (taken.length > 0) {
    throw new EnvironmentError(
      `already in use by another process: ${taken.join(', ')}. Stop what holds them (see: ss -ltnp), or change the ports in the description; nothing was started`,
    );
  }
}

export { isAlive };
