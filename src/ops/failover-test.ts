/**
 * `redis-shard failover-test`: the original system's test.sh against the running stack. Loads known keys, then
 * kills masters (and, in case 5, replicas too), reports the new masters and that every key is still there, and
 * that each key lives on exactly one shard. For every kill it adds what a client saw through the proxy and the
 * agent's own timings. Killed instances are restarted between cases and rejoin as replicas.
 */
import { CheckFailedError, EnvironmentError, InvalidInputError, errorMessage } from '../errors.js';
import { localParts, ourPid, upOutOfProcess, withClient } from '../runtime/index.js';
import { agentPaths, readPassword, type Topology } from '../topology/index.js';
import { describeProbe, formatMs } from './client-probe.js';
import { waitHealthy } from './bench-failover.js';
import { checkSharding, killCase } from './failover-cases.js';
import { describeAgent, describeAnswers, sentinelView, SwitchWatch, unhealthyReason } from './failover-observe.js';
import { checkProbeKeys, killRound, probeKeys, type FailedOver, type RoundResult } from './failover-round.js';
import { checkData, clearData, DEFAULT_PREFIX, loadData, type DataCheck } from './data.js';

export interface FailoverTestOptions {
  count?: number;
  prefix?: string;
  /** Raw output; lines end with "\n". Progress dots are written without one. */
  write?: (text: string) => void;
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

const sp = (addr: string) => addr.replace(/:(\d+)$/, ' $1');

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
  if (topo.agent.apply === 'supervise' && ourPid(agentPaths(topo.stateDir).pid, topo.stateDir) === null) {
    throw new EnvironmentError('the agent is not running, so the proxy would never follow a failover; start the stack with `redis-shard up`');
  }
  const why = await unhealthyReason(topo, password);
  if (why !== null) {
    throw new CheckFailedError(`the stack is not healthy, so a failover test would measure that instead: ${why}. Start it with \`redis-shard up\` and check \`redis-shard status\``);
  }
}

export async function runFailoverTest(topo: Topology, opts: FailoverTestOptions = {}): Promise<FailoverTestResult> {
  const write = opts.write ?? ((t: string) => void process.stdout.write(t));
  const line = (t = '') => write(`${t}\n`);
  const count = opts.count ?? 1000;
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  const password = readPassword(topo);
  await preflight(topo, password);

  const view = await sentinelView(topo, password);
  const masters = () => sentinelView(topo, password).then((v) => Object.fromEntries(Object.entries(v).map(([k, s]) => [k, s.master!])));
  line(`Stack behind ${topo.proxy.listen}: ${topo.shards.map((s, i) => `shard ${i + 1} (${s.name}) master ${sp(view[s.name]!.master!)}`).join(', ')}`);
  const keys = probeKeys(topo);
  await checkProbeKeys(topo, password, keys, await masters());
  const loaded = await loadData(topo, { count, prefix });
  line(`Data loaded (${loaded.loaded} keys in ${loaded.ms} ms)`);

  const cases: CaseResult[] = [];
  const dataLine = (c: DataCheck) =>
    c.present === c.count
      ? `Redis OK (${c.count} items all existed)`
      : `Redis FAILED (${c.present} of ${c.count} items existed: ${c.missing} missing, ${c.wrong} with another value, ${c.errors} unreadable)`;
  const checkAll = async (): Promise<boolean> => {
    const c = await checkData(topo, { count, prefix });
    line(dataLine(c));
    return c.present === c.count;
  };

  const watch = await SwitchWatch.start(topo, password);
  try {
    line();
    line('Test case 1 : test if data loaded correctly:');
    cases.push({ n: 1, ok: await checkAll() });

    for (const n of [2, 3, 4, 5] as const) {
      line();
      const c = killCase(n, topo, await masters());
      if ('skip' in c.victims) {
        line(`Test case ${n} : ${c.title}: skipped (${c.victims.skip})`);
        cases.push({ n, ok: true, skipped: c.victims.skip });
        continue;
      }
      write(`Test case ${n} : ${c.title}: `);
      const victims = c.victims;
      const newMasters = (done: FailedOver[]) => {
        if (done.length === 1) line(`New master is ${sp(done[0]!.newMaster)}`);
        else for (const d of done) line(`New master of shard ${topo.shards.findIndex((s) => s.name === d.shard) + 1} is ${sp(d.newMaster)}`);
      };
      let dataOk = false;
      let round: RoundResult;
      try {
        round = await killRound(topo, password, victims, {
          keys,
          timeoutMs: opts.timeoutMs ?? 30_000,
          tick: () => write('.'),
          // Under the probes: every key is read while the killed instances are still down, then they are
          // restarted and the stack must be healthy again. A shard left refusing writes (NOREPLICAS) resumes
          // here, and a second outage the kill causes later is measured too.
          afterFailover: async (done) => {
            line();
            newMasters(done);
            dataOk = await checkAll();
            await restart(topo, victims, line);
            await waitHealthy(topo, password, 60_000, `after test case ${n}`);
          },
        });
      } catch (e) {
        line();
        line(`FAILED: ${errorMessage(e)}`);
        await diagnose(topo, password, line);
        cases.push({ n, ok: false });
        await restart(topo, victims, line).catch((err) => line(`restart failed: ${errorMessage(err)}`));
        break;
      }
      for (const s of round.shards) {
        line(`  ${describeProbe(s.write)}`);
        if (s.writesRefused) {
          line(`  (${s.shard} was left with one live instance: its master refused writes with NOREPLICAS until a killed instance was back as its replica, as redis.minReplicasToWrite ${topo.redis.minReplicasToWrite} asks)`);
        }
        if (s.read) line(`  ${describeProbe(s.read)}`);
      }
      for (const b of round.bystanders) line(`  ${describeProbe(b)}`);
      for (const s of round.shards) {
        line(`  agent: ${s.agent ? describeAgent(s.agent) : 'no failover-timings record in the agent events file'}`);
      }
      const later = await sentinelView(topo, password);
      const failovers: Record<string, number> = {};
      let once = true;
      for (const s of round.shards) {
        const seen = watch.failovers(s.shard, round.at).length;
        failovers[s.shard] = seen;
        const epochLater = later[s.shard]!.configEpoch;
        const stable = epochLater === s.epochAfter;
        if (seen !== 1 || !stable) once = false;
        line(
          `  ${s.shard}: failover complete ${formatMs(s.completedMs)} after the kill; ${seen} failover${seen === 1 ? '' : 's'} seen ` +
            `(config-epoch ${s.epochBefore ?? '?'} -> ${s.epochAfter ?? '?'}${stable ? ', unchanged since' : `, then ${epochLater ?? '?'}: another failover followed`})`,
        );
      }
      cases.push({ n, ok: dataOk && once, round, failovers });
    }

    // Placement does not depend on how the failovers went, so it is checked whenever every case ran.
    if (cases.length === 5) {
      line();
      line('Test case 6 : check sharding is working (key only appear in one shard)');
      const data = await checkData(topo, { count, prefix });
      const placement = await checkSharding(topo, password, { count, prefix });
      const ok = data.misplaced === 0 && data.onSeveralShards === 0 && placement.ok;
      if (ok) {
        line('OK');
      } else {
        line(
          `FAILED: ${data.misplaced} keys on a shard the ring does not predict, ${placement.onSeveralShards} on several shards, ` +
            `${placement.incomplete} missing from a replica of their shard, ${placement.nowhere} nowhere` +
            (placement.unreachable.length ? `; no answer from ${placement.unreachable.join(', ')}` : ''),
        );
      }
      for (const s of placement.perShard) line(`  ${s.name}: ${s.instances.map((i) => `${sp(i.addr)} ${i.keys}`).join(', ')} keys`);
      cases.push({ n: 6, ok });
    }
  } finally {
    watch.stop();
    line();
    line('Remove test data');
    try {
      await clearData(topo, { count, prefix });
      for (const k of Object.values(keys)) await withClient(topo.proxy.listen, password, (c) => c.del(k), { timeoutMs: 1000 });
    } catch (e) {
      line(`could not remove the test data: ${errorMessage(e)}`);
    }
  }
  return { ok: cases.every((c) => c.ok) && cases.length === 6, cases };
}

async function restart(topo: Topology, victims: string[], line: (t: string) => void): Promise<void> {
  await upOutOfProcess(topo);
  const v = await sentinelView(topo, readPassword(topo));
  const of = (addr: string) => v[topo.shards.find((s) => s.instances.includes(addr))!.name]!.master;
  line(`Restarted ${victims.map((a) => `${sp(a)} (a replica of ${sp(of(a) ?? '?')})`).join(', ')}`);
}

async function diagnose(topo: Topology, password: string | null, line: (t: string) => void): Promise<void> {
  try {
    const v = await sentinelView(topo, password);
    for (const s of Object.values(v)) line(`  sentinels on ${s.shard}: ${describeAnswers(s)}`);
    line(`  agent events: ${agentPaths(topo.stateDir).events}`);
  } catch {
    /* diagnostics are best effort */
  }
}
