import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ourPid, redisClient, waitFor } from '../../src/runtime/index.js';
import { readFileSync } from 'node:fs';
import { agentPaths, sentinelPaths, type Topology } from '../../src/topology/index.js';
import { prepareStack, type TestStack } from '../support/stack.js';
import { diagnose, freePortDescription, majorityMaster, proxyServers, readEvents, redisPid } from './agent-helpers.js';
import { probeRole } from '../../src/agent/index.js';

// Ports 13000-13999 (shared with agent-failover.test.ts; files run one at a time, ports are picked free).
const RANGE = [13000, 13999] as const;

async function sentinelCall(addr: string, ...args: string[]): Promise<unknown> {
  const c = redisClient(addr, null, { timeoutMs: 500 });
  try {
    return await c.call('SENTINEL', ...args);
  } finally {
    c.disconnect();
  }
}

describe('fast path when the failover leader crashes right after promoting', () => {
  let s: TestStack;
  let topo: Topology;

  beforeAll(async () => {
    const ports = await freePortDescription(...RANGE);
    // A short failover-timeout: the surviving sentinels retry after 2x this.
    ports.sentinel = { ...ports.sentinel!, failoverTimeout: 3000 };
    s = prepareStack(RANGE[0], ports);
    topo = s.topo;
    const r = await s.cli(['up', '--timeout', '90']);
    if (r.code !== 0) throw new Error(`up failed (${r.code}): ${r.stderr}${r.stdout}`);
    await waitFor(() => readEvents(topo).filter((e) => e.event === 'sentinel-connected').length >= 3, { timeoutMs: 10_000, what: 'the agent to connect' });
  });

  afterAll(async () => {
    await s?.stop();
  });

  it('ends on the master the surviving majority agrees on, which says ROLE master', async (ctx) => {
    ctx.onTestFailed(async () => void process.stderr.write(`\n${await diagnose(topo)}\n`));
    const sentinels = topo.sentinel.instances;
    const pids = new Map(sentinels.map((a) => [a, ourPid(sentinelPaths(topo.stateDir, a).pid, topo.stateDir)!]));
    // Whichever sentinel wins the election exits right after sending SLAVEOF NO ONE.
    for (const a of sentinels) await sentinelCall(a, 'SIMULATE-FAILURE', 'crash-after-promotion');
    const old = (await majorityMaster(topo, 's1'))!;
    process.kill(redisPid(topo, old), 'SIGKILL');
    const crashed = await waitFor(() => sentinels.find((a) => !isAlivePid(pids.get(a)!)), { timeoutMs: 30_000, intervalMs: 10, what: 'the leader to crash' });
    // The others must not crash too when they retry.
    // (SIMULATE-FAILURE clears the flags before reading its arguments; "help" sets none.)
    for (const a of sentinels) if (a !== crashed) await sentinelCall(a, 'SIMULATE-FAILURE', 'help');
    // Final: the two surviving sentinels (a majority of 3) agree on a master that is not the old one, it says
    // master, and the proxy config names it.
    const final = await waitFor(
      async () => {
        const m = await majorityMaster(topo, 's1');
        if (m === null || m === old) return undefined;
        const role = await probeRole(m, null, 300);
        if ('error' in role || role.role !== 'master') return undefined;
        return proxyServers(topo).s1 === m ? m : undefined;
      },
      { timeoutMs: 45_000, intervalMs: 100, what: 'the surviving sentinels and the proxy to agree on a new master' },
    );
    const agreedAt = Date.now();
    // The config file changes before the restart that follows it ends and the apply is logged: wait for the
    // log line of the apply that put `final` there, so it is not counted as a later one.
    await waitFor(
      () =>
        readEvents(topo).some(
          (e) => e.event === 'config-applied' && Array.isArray(e.changes) && (e.changes as Array<{ to: string }>).some((c) => c.to === final),
        ),
      { timeoutMs: 5000, intervalMs: 20, what: `the apply that moved s1 to ${final} to be logged` },
    );
    const ev = readEvents(topo);
    const fast = ev.find((e) => e.event === 'config-applied' && e.path === 'fast');
    // How long the proxy pointed at a master the majority did not (yet) name: the fast path's exposure here.
    if (fast) process.stdout.write(`proxy ahead of the sentinels' majority for <= ${agreedAt - Date.parse(fast.ts)} ms\n`);
    process.stdout.write(
      `abort scenario: crashed leader ${crashed}; fast switches: ${JSON.stringify(ev.filter((e) => e.event === 'config-applied').map((e) => [e.path, e.changes]))}; final ${final}\n`,
    );
    // And it stays there: a later reconcile pass changes nothing.
    const applied = ev.filter((e) => e.event === 'config-applied').length;
    // Observation window: two full reconcile passes after this point (the agent counts them in agent/passes).
    const passes = () => Number(readFileSync(agentPaths(topo.stateDir).passes, 'utf8').trim() || NaN);
    const p0 = await waitFor(() => (Number.isFinite(passes()) ? passes() : undefined), { timeoutMs: 5000, what: 'the agent pass count' });
    await waitFor(() => passes() >= p0 + 2, { timeoutMs: 10_000, intervalMs: 20, what: 'two more reconcile passes' });
    expect(readEvents(topo).filter((e) => e.event === 'config-applied').length).toBe(applied);
    expect(proxyServers(topo).s1).toBe(final);
  });
});

function isAlivePid(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
