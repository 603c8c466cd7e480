import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, ourPid, waitFor, withClient } from '../../src/runtime/index.js';
import { sentinelPaths, type Topology } from '../../src/topology/index.js';
import { upStack, type TestStack } from '../support/stack.js';
import { diagnose, Freezer, proxyPid, readEvents } from './agent-helpers.js';

// Ports 30600-30641 belong to this file. Apply mode supervise with fencing on (the default): while the agent has
// no sentinel majority (two of three sentinels SIGSTOPped), the fencing part of its pass runs on every pass, and a
// nutcracker that dies then must still be started again: a partition must not also leave the proxy down.
const BASE = 30600;

describe('agent upkeep while it has no sentinel majority (apply mode supervise, fencing on)', () => {
  let s: TestStack;
  let topo: Topology;
  const frozen = new Freezer();
  const cont = () => frozen.cont();

  beforeAll(async () => {
    s = await upStack(BASE, { agent: { apply: 'supervise' } });
    topo = s.topo;
    expect(topo.agent.fence.enabled).toBe(true);
  }, 150_000);

  afterAll(async () => {
    cont();
    await s?.stop();
  }, 60_000);

  it('nutcracker killed during the hold is started again, and serves', async (ctx) => {
    ctx.onTestFailed(async () => {
      cont();
      process.stderr.write(`\n${await diagnose(topo)}\n`);
    });
    const t0 = Date.now();
    for (const a of topo.sentinel.instances.slice(1)) {
      const pid = ourPid(sentinelPaths(topo.stateDir, a).pid, topo.stateDir)!;
      frozen.freeze(pid);
    }
    await waitFor(() => readEvents(topo).some((e) => Date.parse(e.ts) >= t0 && e.event === 'reconcile-hold' && e.reason === 'no-majority') || undefined, {
      timeoutMs: 15_000,
      what: 'the agent to hold for lack of a majority',
    });
    const before = proxyPid(topo)!;
    expect(before).not.toBeNull();
    process.kill(before, 'SIGKILL');
    await waitFor(() => !isAlive(before) || undefined, { timeoutMs: 5000, what: 'nutcracker to die' });
    const after = await waitFor(() => {
      const p = proxyPid(topo);
      return p !== null && p !== before && isAlive(p) ? p : undefined;
    }, { timeoutMs: 10_000, what: 'the agent to start nutcracker again while it has no majority' });
    expect(after).not.toBe(before);
    const reply = await waitFor(
      async () => (await withClient(topo.proxy.listen, null, (c) => c.ping(), { timeoutMs: 500 }).catch(() => null)) ?? undefined,
      { timeoutMs: 10_000, what: 'the restarted nutcracker to answer' },
    );
    expect(reply).toBe('PONG');
    // Still without a majority: the restart did not wait for the sentinels.
    expect(frozen.frozen).toBe(2);
  }, 60_000);
});
