import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { TransientError } from '../../errors.js';
import { ringForTopology } from '../locate.js';
import { parseReplicationInfo } from '../../engine/index.js';
import { builtEntry, delay } from '../../runtime/index.js';
import { mustParseAddress } from '../../topology/index.js';
import { checkWrites, type Attempt, type CheckResult, type ShardWrites } from './checker.js';
import { LAB_PORTS, type LabStack } from './lab-stack.js';

/**
 * The partition scenarios. Each one: writers start on the proxy's host, a split, a hold, the heal, a wait for
 * convergence (`status` healthy), a few more seconds of writes, then every set is read back and checked.
 *   control       no split at all (what the settings cost when nothing is wrong);
 *   master-kill   no split: a normal failover (kill -9 of the master of s1; "heal" starts it again with up);
 *   master-cut    (a) the host of one shard's master cut off, the proxy on the majority side;
 *   jepsen        (b) the proxy's host, its agent and one shard's master on the minority side with one sentinel;
 *   sentinel-cut  (c) a host with a sentinel and replicas but no master cut off: nothing may change;
 *   agent-cut     (d) the agent's host cannot reach any sentinel but still reaches Redis: the proxy stays;
 *   flapping      (e) the jepsen split made and healed every `flapMs` for the hold.
 */
export const SCENARIOS = ['control', 'master-kill', 'master-cut', 'jepsen', 'sentinel-cut', 'agent-cut', 'flapping'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface ScenarioTiming {
  preMs: number;
  holdMs: number;
  postMs: number;
  /** flapping: how long each split and each heal lasts. */
  flapMs?: number;
  /** flapping: how long the flapping goes on (default: holdMs). */
  flapForMs?: number;
  convergeTimeoutMs?: number;
}

export interface ScenarioResult {
  scenario: ScenarioName;
  layout: string;
  apply: string;
  fence: boolean;
  minReplicasMaxLag: number;
  /** What was cut: host labels with their parts. */
  cut: string;
  splitAt: number | null;
  healAt: number | null;
  holdMs: number;
  check: CheckResult;
  /** Lost writes acknowledged before the split (replication had not carried them yet) and after it. */
  lostBeforeSplit: number;
  lostAfterSplit: number;
  /** ms from the split to the acknowledgement of the last lost write (the window the cut-off master kept acking). */
  lostWindowMs: number | null;
  /**
   * Lost writes of fenced shards acknowledged after their fence (the first one of the run): 0 is the fenced bound
   * holding. Null when nothing was fenced, and for flapping (its heals lift the fence in between).
   */
  lostAfterFence: number | null;
  /** For each master on the cut-off side: bytes its replicas had not acknowledged just before the split. */
  replicationGapBytes: Record<string, number>;
  fences: Array<{ shard: string; atMs: number }>;
  unfences: Array<{ shard: string; atMs: number }>;
  proxyBefore: Record<string, string>;
  proxyAfter: Record<string, string>;
  /** Shards whose master was on the cut-off side (or killed) at the split. */
  cutShards: string[];
  /** Shards whose master changed. */
  failedOver: string[];
  convergedMs: number;
}

/** One key per shard, chosen with the same ring nutcracker uses, so each writer exercises exactly one shard. */
export function keysPerShard(stack: LabStack, prefix = 'p13'): Array<{ shard: string; key: string }> {
  const ring = ringForTopology(stack.topo);
  return stack.topo.shards.map((s, idx) => {
    for (let i = 0; i < 100_000; i++) {
      const key = `${prefix}:${s.name}:${i}`;
      if (ring.locate(Buffer.from(key)) === idx) return { shard: s.name, key };
    }
    throw new Error(`no key found for shard ${s.name}`);
  });
}

class Writers {
  private readonly lines: string[] = [];
  private waiting: ((l: string) => void) | null = null;
  private readonly child;
  private exited = false;

  constructor(stack: LabStack, host: string, keys: Array<{ shard: string; key: string }>, logFile: string) {
    const args = JSON.stringify({ proxy: stack.topo.proxy.listen, keys, timeoutMs: 1000 });
    this.child = stack.lab.start(host, [process.execPath, builtEntry('ops/partition/writer-main.js'), args], logFile);
    this.child.once('exit', () => {
      this.exited = true;
      this.waiting?.('{"error":"the writer process exited"}');
    });
    createInterface({ input: this.child.stdout! }).on('line', (l) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = null;
        w(l);
      } else this.lines.push(l);
    });
  }

  private async ask(cmd: string): Promise<Record<string, unknown>> {
    if (this.exited) throw new TransientError('the writer process exited');
    const line = new Promise<string>((resolve) => {
      const l = this.lines.shift();
      if (l !== undefined) resolve(l);
      else this.waiting = resolve;
    });
    this.child.stdin!.write(`${cmd}\n`);
    const parsed = JSON.parse(await line) as Record<string, unknown>;
    if (typeof parsed.error === 'string') throw new TransientError(`writer: ${parsed.error}`);
    return parsed;
  }

  /** Resolves once every writer has had a write acknowledged (the process and its connections are up). */
  async ready(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = (await this.ask('counts')) as { counts: Array<{ acked: number }> };
      if (r.counts.every((c) => c.acked > 0)) return;
      if (Date.now() > deadline) throw new TransientError(`the writers had no write acknowledged within ${timeoutMs} ms`);
      await delay(50);
    }
  }

  async stop(): Promise<ShardWrites[]> {
    const r = (await this.ask('stop')) as { writes: Array<{ shard: string; key: string; attempts: Array<[number, number, string | null]> }> };
    return r.writes.map((w) => ({ shard: w.shard, key: w.key, attempts: w.attempts.map(([n, t, err]): Attempt => ({ n, t, err })) }));
  }

  async read(): Promise<Record<string, number[]>> {
    return ((await this.ask('read')) as { present: Record<string, number[]> }).present;
  }

  end(): void {
    this.child.stdin?.end();
    setTimeout(() => {
      if (!this.exited) this.child.kill('SIGKILL');
    }, 5000).unref();
  }
}

/** The host holding an instance `addr`'s master, per the proxy config. */
function mastersOn(stack: LabStack, targets: Record<string, string>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [shard, addr] of Object.entries(targets)) (out[stack.hostOf(addr)] ??= []).push(shard);
  return out;
}

async function replicationGap(stack: LabStack, master: string): Promise<number> {
  const { host, port } = mustParseAddress(master);
  const r = await stack.lab.exec(stack.hostOf(master), ['redis-cli', '-h', host, '-p', String(port), 'INFO', 'replication'], { timeoutMs: 2000 });
  const info = parseReplicationInfo(r.stdout);
  if (!info || info.role !== 'master' || info.replicas.length === 0) return -1;
  return info.offset - Math.max(...info.replicas.map((x) => x.offset));
}

/** Runs one scenario on a converged stack and leaves it converged (the heal and the wait are in finally). */
export async function runScenario(stack: LabStack, scenario: ScenarioName, t: ScenarioTiming, log: (l: string) => void = () => {}): Promise<ScenarioResult> {
  const lab = stack.lab;
  const proxyBefore = await stack.proxyTargets();
  const byHost = mastersOn(stack, proxyBefore);
  let minority: string[] = [];
  let cut = 'nothing';
  let partial = false;
  let killed: string | null = null;
  switch (scenario) {
    case 'control':
      break;
    case 'master-cut': {
      const h = stack.redisHosts.find((x) => x !== stack.proxyHost && byHost[x]?.length);
      if (!h) throw new Error('master-cut needs a shard master on a host other than the proxy\'s');
      minority = [h];
      cut = `${h} (master of ${byHost[h]!.join(', ')}, a sentinel)`;
      break;
    }
    case 'jepsen':
    case 'flapping': {
      if (stack.opts.layout === 'colocated') {
        if (!byHost[stack.proxyHost]?.length) throw new Error(`${scenario} (colocated) needs a shard master on the proxy's host`);
        minority = [stack.proxyHost];
      } else {
        const h = stack.redisHosts.find((x) => byHost[x]?.length)!;
        minority = [stack.proxyHost, h];
      }
      const shards = minority.flatMap((h) => byHost[h] ?? []);
      cut = `${minority.join('+')} (proxy, agent, clients, master of ${shards.join(', ')}, one sentinel)`;
      break;
    }
    case 'master-kill': {
      const addr = proxyBefore.s1!;
      minority = [];
      killed = addr;
      cut = `kill -9 of ${addr} (master of s1)`;
      break;
    }
    case 'sentinel-cut': {
      const h = stack.redisHosts.find((x) => x !== stack.proxyHost && !byHost[x]?.length);
      if (!h) throw new Error('sentinel-cut needs a host with no master (and not the proxy\'s)');
      minority = [h];
      cut = `${h} (a sentinel and replicas, no master)`;
      break;
    }
    case 'agent-cut':
      if (stack.opts.layout !== 'separate') throw new Error('agent-cut needs the proxy and agent on a host without a sentinel (layout separate)');
      partial = true;
      cut = `${stack.proxyHost} -> every sentinel (Redis still reachable)`;
      break;
  }
  const keys = keysPerShard(stack, `p13:${scenario}:${Date.now()}`);
  const writers = new Writers(stack, stack.proxyHost, keys, join(stack.dir, `writer-${scenario}.log`));
  let splitAt: number | null = null;
  let healAt: number | null = null;
  const replicationGapBytes: Record<string, number> = {};
  let convergedMs = -1;
  let writes: ShardWrites[] = [];
  let present: Record<string, number[]> = {};
  try {
    await writers.ready(30_000);
    await delay(t.preMs);
    const cutMasters = Object.entries(proxyBefore).filter(([, a]) => minority.includes(stack.hostOf(a)) || a === killed);
    for (const [shard, addr] of cutMasters) replicationGapBytes[shard] = await replicationGap(stack, addr);
    if (scenario !== 'control') {
      splitAt = Date.now();
      if (partial) await lab.dropPorts(stack.proxyHost, LAB_PORTS.sentinel, LAB_PORTS.sentinel);
      else if (killed) await stack.kill(killed);
      else await lab.split(minority);
      log(`${scenario}: split (${cut})`);
      if (scenario === 'flapping') {
        const flap = t.flapMs ?? 3000;
        const end = splitAt + (t.flapForMs ?? t.holdMs);
        let split = true;
        while (Date.now() + flap < end) {
          await delay(flap);
          if (split) await lab.heal();
          else await lab.split(minority);
          split = !split;
        }
        await delay(Math.max(0, end - Date.now()));
      } else await delay(t.holdMs);
    } else await delay(t.holdMs);
  } finally {
    healAt = splitAt === null ? null : Date.now();
    await lab.heal();
    if (killed) await stack.upHost(stack.hostOf(killed));
    if (splitAt !== null) log(`${scenario}: healed after ${healAt! - splitAt} ms`);
    try {
      convergedMs = await stack.waitConverged(t.convergeTimeoutMs ?? 90_000);
      await delay(t.postMs);
      writes = await writers.stop();
      present = await writers.read();
    } finally {
      writers.end();
    }
  }
  const check = checkWrites(writes, present);
  const proxyAfter = await stack.proxyTargets();
  const lostTimes = check.shards.flatMap((s) => s.lostAckTimes);
  const since = splitAt ?? 0;
  const events = stack.agentEvents(since - 1000, ['fence', 'unfence']).filter((e) => splitAt !== null && Date.parse(e.ts) >= splitAt);
  const rel = (e: { ts: string }) => Date.parse(e.ts) - (splitAt ?? 0);
  const firstFence = new Map<string, number>();
  for (const e of events) if (e.event === 'fence' && !firstFence.has(String(e.shard))) firstFence.set(String(e.shard), Date.parse(e.ts));
  const lostAfterFence =
    firstFence.size === 0 || scenario === 'flapping'
      ? null
      : check.shards.reduce((n, s) => n + s.lostAckTimes.filter((t) => firstFence.has(s.shard) && t > firstFence.get(s.shard)!).length, 0);
  const result: ScenarioResult = {
    scenario,
    layout: stack.opts.layout,
    apply: stack.apply,
    fence: stack.opts.fence,
    minReplicasMaxLag: stack.opts.minReplicasMaxLag,
    cut,
    splitAt,
    healAt,
    holdMs: scenario === 'flapping' ? (t.flapForMs ?? t.holdMs) : t.holdMs,
    check,
    lostBeforeSplit: splitAt === null ? check.lost : lostTimes.filter((x) => x < splitAt).length,
    lostAfterSplit: splitAt === null ? 0 : lostTimes.filter((x) => x >= splitAt).length,
    lostWindowMs: splitAt === null || lostTimes.length === 0 ? null : Math.max(...lostTimes) - splitAt,
    lostAfterFence,
    replicationGapBytes,
    fences: events.filter((e) => e.event === 'fence').map((e) => ({ shard: String(e.shard), atMs: rel(e) })),
    unfences: events.filter((e) => e.event === 'unfence').map((e) => ({ shard: String(e.shard), atMs: rel(e) })),
    proxyBefore,
    proxyAfter,
    cutShards: Object.keys(proxyBefore).filter((sh) => minority.includes(stack.hostOf(proxyBefore[sh]!)) || proxyBefore[sh] === killed),
    failedOver: Object.keys(proxyBefore).filter((s) => proxyBefore[s] !== proxyAfter[s]),
    convergedMs,
  };
  log(`${scenario}: acked ${check.acked}, lost ${check.lost} (${check.lostPct}%), indeterminate ${check.indeterminate}, converged in ${convergedMs} ms`);
  return result;
}
