import { cpus, totalmem } from 'node:os';
import { EnvironmentError } from '../../errors.js';
import { netnsAvailable } from '../../runtime/index.js';
import { LabStack, type LabApply, type Layout } from './lab-stack.js';
import { runScenario, type ScenarioName, type ScenarioResult, type ScenarioTiming } from './scenarios.js';

export interface SuiteOptions {
  layouts: Layout[];
  /** Apply modes to run (default: haproxy, the description's default). */
  applies?: LabApply[];
  scenarios: ScenarioName[];
  /** Each fence setting gets its own run of every scenario. */
  fence: boolean[];
  minReplicasMaxLag: number;
  timing: ScenarioTiming;
  /** Third octet of the lab net 10.231.X.0/24. */
  net?: number;
  log?: (line: string) => void;
  /** Runs of the scenarios on each stack, one after the other (default 1): intermittent outcomes show up. */
  repeat?: number;
  /** Called with each result as it comes. */
  onResult?: (r: ScenarioResult) => void;
}

export interface SuiteResult {
  machine: string;
  results: ScenarioResult[];
  /** Scenarios that could not run in a layout, with why (e.g. agent-cut needs the proxy on its own host). */
  skipped: Array<{ layout: Layout; apply: LabApply; scenario: ScenarioName; why: string }>;
}

export function machineLine(): string {
  const c = cpus();
  return `${c[0]?.model.trim() ?? 'unknown CPU'}, ${c.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

/** Scenarios that need a layout the other one does not have. */
function unsupported(layout: Layout, s: ScenarioName): string | null {
  if (s === 'agent-cut' && layout === 'colocated') return 'the agent shares its host with a sentinel, so it cannot be cut from the sentinels alone';
  return null;
}

/** A scenario that needs masters where an earlier one's failover has moved them away: say so, do not fail. */
async function precondition(stack: LabStack, s: ScenarioName): Promise<string | null> {
  const hosts = new Set(Object.values(await stack.proxyTargets()).map((a) => stack.hostOf(a)));
  if (s === 'sentinel-cut' && !stack.redisHosts.some((h) => h !== stack.proxyHost && !hosts.has(h))) return 'every host but the proxy\'s holds a master now';
  if ((s === 'jepsen' || s === 'flapping') && stack.opts.layout === 'colocated' && !hosts.has(stack.proxyHost)) return 'no master is on the proxy\'s host now';
  if (s === 'master-cut' && ![...hosts].some((h) => h !== stack.proxyHost)) return 'every master is on the proxy\'s host';
  return null;
}

/**
 * Runs the scenarios on fresh stacks: one stack per layout and fence setting, the scenarios in turn on it
 * (each leaves it converged). The jepsen case runs first, while s1's master is still on h1 (colocated needs
 * a master beside the proxy); sentinel-cut and agent-cut before master-cut, while one host has no master.
 */
export async function runPartitionSuite(o: SuiteOptions): Promise<SuiteResult> {
  const ok = await netnsAvailable();
  if (!ok.ok) throw new EnvironmentError(`partition-test needs network namespaces: ${ok.why}`);
  const order: ScenarioName[] = ['control', 'jepsen', 'sentinel-cut', 'agent-cut', 'master-kill', 'master-cut', 'flapping'];
  const scenarios = order.filter((s) => o.scenarios.includes(s));
  const results: ScenarioResult[] = [];
  const skipped: SuiteResult['skipped'] = [];
  let run = 0;
  for (const apply of o.applies ?? ['haproxy']) {
    for (const layout of o.layouts) {
      for (const fence of o.fence) {
        const todo = scenarios.filter((s) => {
          const why = unsupported(layout, s);
          if (why && fence === o.fence[0]) skipped.push({ layout, apply, scenario: s, why });
          return !why;
        });
        if (todo.length === 0) continue;
        const stack = await LabStack.start({
          layout,
          apply,
          net: `10.231.${o.net ?? 13}`,
          suffix: `${process.pid % 100000}${run++}`,
          fence,
          minReplicasMaxLag: o.minReplicasMaxLag,
          ...(o.log ? { log: o.log } : {}),
        });
        try {
          for (const s of Array.from({ length: o.repeat ?? 1 }, () => todo).flat()) {
            const why = await precondition(stack, s);
            if (why) {
              skipped.push({ layout, apply, scenario: s, why: `${why} (fence ${fence ? 'on' : 'off'})` });
              continue;
            }
            const r = await runScenario(stack, s, o.timing, o.log);
            results.push(r);
            o.onResult?.(r);
          }
        } finally {
          await stack.destroy();
        }
      }
    }
  }
  return { machine: machineLine(), results, skipped };
}

/** One table row per scenario run: what a client saw. */
export function resultRows(results: ScenarioResult[]): { head: string[]; rows: string[][] } {
  const n = (x: number) => x.toLocaleString('en-US');
  const s = (ms: number | null) => (ms === null ? '-' : `${(ms / 1000).toFixed(2)} s`);
  return {
    head: ['apply', 'layout', 'fence', 'scenario', 'acked', 'lost', 'lost %', 'lost window', 'indet.', 'unavailable per shard (longest)', 'fenced at', 'lost after fence', 'failed over', 'converged'],
    rows: results.map((r) => [
      r.apply,
      r.layout,
      r.fence ? 'on' : 'off',
      r.scenario,
      n(r.check.acked),
      n(r.check.lost),
      `${r.check.lostPct.toFixed(1)}%`,
      s(r.lostWindowMs),
      n(r.check.indeterminate),
      r.check.shards.map((x) => `${x.shard} ${s(x.longestMs)}`).join(', '),
      r.fences.length ? r.fences.map((f) => `${f.shard} ${s(f.atMs)}`).join(', ') : '-',
      r.lostAfterFence === null ? '-' : n(r.lostAfterFence),
      r.failedOver.length ? r.failedOver.join(', ') : '-',
      `${(r.convergedMs / 1000).toFixed(1)} s`,
    ]),
  };
}
