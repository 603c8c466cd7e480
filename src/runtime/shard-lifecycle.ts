import { answerOf, describeFailure, parseReplicationInfo, querySentinels } from '../engine/index.js';
import { renderRedisConf } from '../render/index.js';
import { agentPaths, mustParseAddress, redisPaths, type ShardSpec, type Topology } from '../topology/index.js';
import { TransientError } from '../errors.js';
import { atomicWriteFile } from './atomic-write.js';
import { requireBinary } from './binaries.js';
import { localParts } from './host.js';
import { tail } from './nutcracker.js';
import { ourPid, spawnDetached } from './process.js';
import { stopPid } from './stop.js';
import { withClient } from './redis-client.js';
import { tuneSentinel } from './sentinel-tuning.js';
import { waitFor } from './wait.js';
import { existsSync } from 'node:fs';

/**
 * Starts the instances of one shard that run on this host and are not running yet (a shard added by a
 * reshard): configs rendered once, the first master as in the description, the others its replicas. Resolves
 * when each answers PING and every replica reports its link up. Used only for a shard no sentinel knows yet.
 */
export async function startShardInstances(topo: Topology, shard: ShardSpec, password: string | null, log: (l: string) => void = () => {}): Promise<void> {
  const local = new Set(localParts(topo).redis);
  const bin = requireBinary('redis-server');
  for (const addr of shard.instances.filter((a) => local.has(a))) {
    const p = redisPaths(topo.stateDir, addr);
    if (ourPid(p.pid, topo.stateDir) !== null) continue;
    if (!existsSync(p.conf)) {
      atomicWriteFile(p.conf, renderRedisConf(topo, { addr, replicaOf: addr === shard.master ? null : shard.master, password }), {
        mode: password !== null ? 0o600 : 0o644,
      });
    }
    const s = await spawnDetached({ bin, args: [p.conf], logFile: p.log, pidFile: p.pid, cwd: p.dir, stateDir: topo.stateDir });
    await waitFor(() => withClient(addr, password, async (c) => (await c.ping()) === 'PONG', { timeoutMs: 500 }).catch(() => false), {
      timeoutMs: 30_000,
      intervalMs: 20,
      what: `${addr} to answer PING`,
      abortOn: s.exited.then(({ code, signal }) => `the process exited (${signal ?? `code ${code}`}); ${tail(p.log)}`),
    });
    log(`started redis ${addr} (pid ${s.pid})`);
  }
  await waitFor(
    () =>
      withClient(shard.master, password, async (c) => {
        const r = parseReplicationInfo(String(await c.info('replication')));
        return r?.role === 'master' && r.replicas.filter((x) => x.state === 'online').length >= shard.instances.length - 1;
      }, { timeoutMs: 500 }).catch(() => false),
    { timeoutMs: 30_000, intervalMs: 50, what: `shard ${shard.name}: master ${shard.master} with ${shard.instances.length - 1} replicas online` },
  );
}

/** SENTINEL MONITOR on every sentinel with the description's settings (idempotent: a sentinel that has it is left as is). */
export async function sentinelMonitor(topo: Topology, shard: string, master: string, password: string | null): Promise<void> {
  const s = topo.sentinel;
  const { host, port } = mustParseAddress(master);
  const failures: string[] = [];
  // Who monitors it already: the one sentinel query; "not monitored" is an answer here, not a failure.
  const reports = await querySentinels(s.instances, [shard], password, 2000);
  await Promise.all(
    reports.map((r) => {
      const a = answerOf(r, shard);
      if (!a.ok && a.failure.kind !== 'not-monitored') return void failures.push(`${r.sentinel}: ${describeFailure(a.failure)}`);
      return withClient(r.sentinel, password, async (c) => {
        if (!a.ok) await c.call('SENTINEL', 'MONITOR', shard, host, String(port), String(s.quorum));
        await c.call('SENTINEL', 'SET', shard, 'down-after-milliseconds', String(s.downAfterMilliseconds), 'failover-timeout', String(s.failoverTimeout), 'parallel-syncs', String(s.parallelSyncs));
        if (password !== null) await c.call('SENTINEL', 'SET', shard, 'auth-pass', password);
        await tuneSentinel(r.sentinel, password, topo);
      }, { timeoutMs: 2000 }).catch((e) => failures.push(`${r.sentinel}: ${(e as Error).message}`));
    }),
  );
  if (failures.length > 0) throw new TransientError(`SENTINEL MONITOR ${shard} failed on ${failures.join('; ')}`);
}

/** SENTINEL REMOVE on every sentinel (idempotent). */
export async function sentinelRemove(topo: Topology, shard: string, password: string | null): Promise<string[]> {
  const failures: string[] = [];
  const reports = await querySentinels(topo.sentinel.instances, [shard], password, 2000);
  await Promise.all(
    reports.map((r) => {
      const a = answerOf(r, shard);
      if (!a.ok) return void (a.failure.kind === 'not-monitored' || failures.push(`${r.sentinel}: ${describeFailure(a.failure)}`));
      return withClient(r.sentinel, password, (c) => c.call('SENTINEL', 'REMOVE', shard), { timeoutMs: 2000 }).catch((e) =>
        failures.push(`${r.sentinel}: ${(e as Error).message}`),
      );
    }),
  );
  return failures;
}

/**
 * Stops this host's instances of a shard (SIGTERM, Redis flushes its AOF), by pid file: a shard removed from
 * the description is no longer in it, so a pid file of ours under this state dir is what says it runs here.
 */
export async function stopShardInstances(topo: Topology, shard: ShardSpec): Promise<string[]> {
  const stopped: string[] = [];
  for (const addr of shard.instances) {
    const p = redisPaths(topo.stateDir, addr);
    const pid = ourPid(p.pid, topo.stateDir);
    if (pid === null) continue;
    await stopPid(pid, { graceMs: 20_000 });
    stopped.push(addr);
  }
  return stopped;
}

/**
 * Restarts the agent worker so it reads the description again (its supervisor starts a new one at once). A
 * reshard does this after the cut: the agent follows failovers only of the shards it read at its start.
 */
export async function restartAgentWorker(topo: Topology): Promise<boolean> {
  const pid = ourPid(agentPaths(topo.proxyDir).pid, topo.stateDir);
  if (pid === null) return false;
  await stopPid(pid, { graceMs: 5000 });
  return true;
}
