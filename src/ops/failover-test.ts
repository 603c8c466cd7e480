/**
 * `redis-shard failover-test`: the original system's test.sh against the running stack. Loads known keys, then
 * kills masters (and, in case 5, replicas too), reports the new masters and that every key is still there, and
 * that each key lives on exactly one shard. For every kill it adds what a client saw through the proxy and the
 * agent's own timings. Killed instances are restarted between cases and rejoin as replicas.
 */
import { CheckFailedError, EnvironmentError, InvalidInputError, errorMessage } from '../errors.js';
import { localParts, ourPid, upOutOfProcess, withClient } from '../runtime/index.js';
import { agentPaths, allProxies, readPassword, type Topology } from '../topology/index.js';
import { waitHealthy } from './bench-failover.js';
import { checkSharding, killCase } from './failover-cases.js';
import { describeAnswers, sentinelView, SwitchWatch, unhealthyReason } from './failover-observe.js';
import { checkProbeKeys, killRound, probeKeys, type FailedOver, type RoundResult } from './failover-round.js';
import { checkData, clearData, DEFAULT_PREFIX, loadData, type DataCheck } from './data.js';

/**
 * What happens, in order, as it happens: the CLI renders these (cli/failover-text.ts); nothing here prints.
 */
export type FailoverTestEvent =
  | { type: 'stack'; proxy: string; masters: Array<{ shard: string; master: string }> }
  | { type: 'loaded'; keys: number; ms: number }
  | { type: 'case'; n: number; title: string }
  | { type: 'case-skipped'; n: number; title: string; why: string }
  /** A probe tick while a kill's failovers run (the original's progress dots). */
  | { type: 'tick' }
  | { type: 'new-masters'; masters: Array<{ shard: string; shardNumber: number; master: string }> }
  | { type: 'data'; check: DataCheck }
  | { type: 'restarted'; instances: Array<{ addr: string; replicaOf: string | null }> }
  | { type: 'case-failed'; n: number; error: string; sentinels: string[]; eventsFile: string }
  | { type: 'restart-failed'; error: string }
  | {
      type: 'round';
      n: number;
      round: RoundResult;
      minReplicasToWrite: number;
      failovers: Array<{ shard: string; seen: number; completedMs: number; epochBefore: number | null; epochAfter: number | null; epochLater: number | null }>;
    }
  | { type: 'sharding'; ok: boolean; data: DataCheck; placement: Awaited<ReturnType<typeof checkSharding>> }
  | { type: 'cleanup'; error: string | null };

export interface FailoverTestOptions {
  count?: number;
  prefix?: string;
  /** Receives every event; the CLI renders them. */
  onEvent?: (e: FailoverTestEvent) => void;
  /** Per-case limit for failovers to complete (default 30 s). */
  timeoutMs?: number;
}

export interface CaseResult {
  n: number;
  ok: boolean;
  skipped?: string;
  round?: RoundResult;
  /** Distinct +switch-master per shard from the kill until the stack was healthy again. */
  failovers?: Record<string, number>;
}

export interface FailoverTestResult {
  ok: boolean;
  cases: CaseResult[];
}

/** The question asked before anything is touched; the CLI asks it unless --yes. */
export function confirmationText(topo: Topology, count: number, prefix: string): string {
  return (
    `This kills Redis instances of the running stack behind ${topo.proxy.listen} (kill -9, several times) and replaces ` +
    `the keys ${prefix}0 .. ${prefix}${count - 1} (removed at the end); its clients will see failovers. Are you sure? (y/n) `
  );
}

/** What must hold before the first kill; each failure says what to do. */
async function preflight(topo: Topology, password: string | null): Promise<void> {
  const local = localParts(topo).redis;
  const remote = topo.shards.flatMap((s) => s.instances).filter((a) => !local.includes(a));
  if (remote.length > 0) {
    throw new InvalidInputError(`failover-test kills instances by PID, so every instance must run on this host; ${remote.join(', ')} do not`);
  }
  // One proxy: its agent, as always. Several: the agent of each proxy on this host (one on another host is
  // judged by whether its proxy follows).
  const agents = allProxies(topo).length === 1 ? [{ dir: topo.proxyDir, whose: 'the agent' }] : localParts(topo).proxies.map((p) => ({ dir: p.dir, whose: `the agent of proxy ${p.listen}` }));
  for (const a of topo.agent.apply === 'supervise' || topo.agent.apply === 'haproxy' ? agents : []) {
    if (ourPid(agentPaths(a.dir).pid, topo.stateDir) === null) {
      throw new EnvironmentError(`${a.whose} is not running, so the proxy would never follow a failover; start the stack with \`redis-shard up\``);
    }
  }
  const why = await unhealthyReason(topo, password);
  if (why !== null) {
    throw new CheckFailedError(`the stack is not healthy, so a failover test would measure that instead: ${why}. Start it with \`redis-shard up\` and check \`redis-shard status\``);
  }
}

export async function runFailoverTest(topo: Topology, opts: FailoverTestOptions = {}): Promise<FailoverTestResult> {
  const emit = opts.onEvent ?? (() => {});
  const count = opts.count ?? 1000;
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  const password = readPassword(topo);
  await preflight(topo, password);

  const view = await sentinelView(topo, password);
  const masters = () => sentinelView(topo, password).then((v) => Object.fromEntries(Object.entries(v).map(([k, s]) => [k, s.master!])));
  emit({ type: 'stack', proxy: topo.proxy.listen, masters: topo.shards.map((s) => ({ shard: s.name, master: view[s.name]!.master! })) });
  const keys = probeKeys(topo);
  await checkProbeKeys(topo, password, keys, await masters());
  const loaded = await loadData(topo, { count, prefix });
  emit({ type: 'loaded', keys: loaded.loaded, ms: loaded.ms });

  const cases: CaseResult[] = [];
  const checkAll = async (): Promise<boolean> => {
    const c = await checkData(topo, { count, prefix });
    emit({ type: 'data', check: c });
    return c.present === c.count;
  };

  const watch = await SwitchWatch.start(topo, password);
  try {
    emit({ type: 'case', n: 1, title: 'test if data loaded correctly' });
    cases.push({ n: 1, ok: await checkAll() });

    for (const n of [2, 3, 4, 5] as const) {
      const c = killCase(n, topo, await masters());
      if ('skip' in c.victims) {
        emit({ type: 'case-skipped', n, title: c.title, why: c.victims.skip });
        cases.push({ n, ok: true, skipped: c.victims.skip });
        continue;
      }
      emit({ type: 'case', n, title: c.title });
      const victims = c.victims;
      let dataOk = false;
      let round: RoundResult;
      try {
        round = await killRound(topo, password, victims, {
          keys,
          timeoutMs: opts.timeoutMs ?? 30_000,
          tick: () => emit({ type: 'tick' }),
          // Under the probes: every key is read while the killed instances are still down, then they are
          // restarted and the stack must be healthy again. A shard left refusing writes (NOREPLICAS) resumes
          // here, and a second outage the kill causes later is measured too.
          afterFailover: async (done) => {
            emit({
              type: 'new-masters',
              masters: done.map((d) => ({ shard: d.shard, shardNumber: topo.shards.findIndex((s) => s.name === d.shard) + 1, master: d.newMaster })),
            });
            dataOk = await checkAll();
            emit(await restart(topo, victims));
            await waitHealthy(topo, password, 60_000, `after test case ${n}`);
          },
        });
      } catch (e) {
        emit({ type: 'case-failed', n, error: errorMessage(e), sentinels: await sentinelLines(topo, password), eventsFile: agentPaths(topo.proxyDir).events });
        cases.push({ n, ok: false });
        await restart(topo, victims).then(emit, (err: unknown) => emit({ type: 'restart-failed', error: errorMessage(err) }));
        break;
      }
      const later = await sentinelView(topo, password);
      const failovers = round.shards.map((s) => ({
        shard: s.shard,
        seen: watch.failovers(s.shard, round.at).length,
        completedMs: s.completedMs,
        epochBefore: s.epochBefore,
        epochAfter: s.epochAfter,
        epochLater: later[s.shard]!.configEpoch,
      }));
      emit({ type: 'round', n, round, minReplicasToWrite: topo.redis.minReplicasToWrite, failovers });
      const once = failovers.every((f) => f.seen === 1 && f.epochLater === f.epochAfter);
      cases.push({ n, ok: dataOk && once, round, failovers: Object.fromEntries(failovers.map((f) => [f.shard, f.seen])) });
    }

    // Placement does not depend on how the failovers went, so it is checked whenever every case ran.
    if (cases.length === 5) {
      const data = await checkData(topo, { count, prefix });
      const placement = await checkSharding(topo, password, { count, prefix });
      const ok = data.misplaced === 0 && data.onSeveralShards === 0 && placement.ok;
      emit({ type: 'sharding', ok, data, placement });
      cases.push({ n: 6, ok });
    }
  } finally {
    watch.stop();
    let error: string | null = null;
    try {
      await clearData(topo, { count, prefix });
      for (const k of Object.values(keys)) await withClient(topo.proxy.listen, password, (c) => c.del(k), { timeoutMs: 1000 });
    } catch (e) {
      error = errorMessage(e);
    }
    emit({ type: 'cleanup', error });
  }
  return { ok: cases.every((c) => c.ok) && cases.length === 6, cases };
}

async function restart(topo: Topology, victims: string[]): Promise<FailoverTestEvent> {
  await upOutOfProcess(topo);
  const v = await sentinelView(topo, readPassword(topo));
  const of = (addr: string) => v[topo.shards.find((s) => s.instances.includes(addr))!.name]!.master;
  return { type: 'restarted', instances: victims.map((addr) => ({ addr, replicaOf: of(addr) })) };
}

/** For a failed case: what each sentinel said about each shard (best effort). */
async function sentinelLines(topo: Topology, password: string | null): Promise<string[]> {
  try {
    return Object.values(await sentinelView(topo, password)).map((s) => `sentinels on ${s.shard}: ${describeAnswers(s)}`);
  } catch {
    return [];
  }
}
