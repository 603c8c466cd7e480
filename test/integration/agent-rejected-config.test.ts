import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { startAgent, type Agent } from '../../src/agent/index.js';
import { nutcrackerTargets, renderNutcrackerYml } from '../../src/render/index.js';
import { haproxyConfig, portAccepts, stopPid, waitFor } from '../../src/runtime/index.js';
import { haproxyPaths, loadTopology, proxyPaths, type ApplyMode, type Topology } from '../../src/topology/index.js';
import { killLeftovers, testDescription } from '../support/stack.js';
import { eventsSince, proxyPid, readEvents } from './agent-helpers.js';

// Ports 24400-24599 belong to this file, 50 per test. No Redis and no sentinel listens: the passes hold for lack
// of a majority, and keep the proxy's processes running, which is what this file is about. A plain listener
// stands for "another process holds that port".
const SUPERVISE = 24400;
const HAPROXY = 24450;
const SUPERVISE_HELD = 24500;
const HAPROXY_HELD = 24550;

function holdPort(port: number): Promise<Server> {
  const srv = createServer((s) => s.destroy());
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}

describe('a config nutcracker will not start on', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function setup(
    base: number,
    mode: ApplyMode,
    opts: { listenHeld?: boolean } = {},
  ): Promise<{ topo: Topology; conf: string; good: string; bad: string; agent: Agent; release: () => Promise<void> }> {
    const held = await holdPort(base + 25);
    cleanup.push(() => new Promise<void>((r) => held.close(() => r())));
    // The proxy's own address, taken before the agent starts: it cannot start nutcracker until it is let go.
    let listenHolder = opts.listenHeld ? await holdPort(base + 30) : null;
    const release = async () => {
      const h = listenHolder;
      listenHolder = null;
      if (h) await new Promise<void>((r) => h.close(() => r()));
    };
    cleanup.push(release);
    const dir = mkdtempSync(join(tmpdir(), 'redis-shard-rejected-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'redis-shard.yml');
    // Fencing off: with no sentinel at all it would have the passes wait for the majority instead.
    writeFileSync(file, stringify(testDescription(base, { agent: { apply: mode, reconcileIntervalMs: 100, fence: { enabled: false } } })));
    const topo = loadTopology({ config: file });
    cleanup.push(() => killLeftovers(topo.stateDir));
    const conf = proxyPaths(topo.stateDir).conf;
    mkdirSync(proxyPaths(topo.stateDir).dir, { recursive: true });
    const masters = Object.fromEntries(topo.shards.map((s) => [s.name, s.master]));
    const good = mode === 'haproxy' ? renderNutcrackerYml(topo, nutcrackerTargets(topo, {}), null) : renderNutcrackerYml(topo, {}, null);
    writeFileSync(conf, good);
    if (mode === 'haproxy') {
      mkdirSync(haproxyPaths(topo.stateDir).dir, { recursive: true });
      writeFileSync(haproxyPaths(topo.stateDir).conf, haproxyConfig(topo, masters));
    }
    // `nutcracker -t` accepts it (it binds nothing), the ring is the description's; only starting it fails.
    const bad = good.replace(`listen: ${topo.proxy.listen}`, `listen: 127.0.0.1:${base + 25}`);
    expect(bad).not.toBe(good);
    const agent = startAgent(topo, { password: null });
    cleanup.push(() => agent.stop());
    // The agent starts the proxy (nothing runs yet): the good config serves.
    if (!opts.listenHeld) await waitFor(() => proxyPid(topo) !== null, { timeoutMs: 15_000, what: `nutcracker on ${topo.proxy.listen}` });
    return { topo, conf, good, bad, agent, release };
  }

  /** Waits for `n` more passes: the agent had every chance to retry (and to log) in between. */
  async function passes(agent: Agent, n: number): Promise<void> {
    const target = agent.passCount + n;
    await waitFor(() => agent.passCount >= target, { timeoutMs: 30_000, what: `${n} more reconcile passes` });
  }

  async function expectReportedOnceAndServing(topo: Topology, agent: Agent, n0: number, conf: string, good: string, bad: string): Promise<void> {
    await waitFor(() => eventsSince(topo, n0).some((e) => e.event === 'apply-failed' || e.event === 'proxy-start-failed'), {
      timeoutMs: 15_000,
      what: 'the failed start to be reported',
    });
    // At 100 ms a pass, 40 passes span every retry the backoff allows in the first seconds (100, 200, 400 ms ...).
    await passes(agent, 40);
    const failures = eventsSince(topo, n0).filter((e) => e.event === 'apply-failed' || e.event === 'proxy-start-failed');
    expect(failures.map((e) => `${e.event}: ${String(e.error).slice(0, 160)}`)).toHaveLength(1);
    expect(String(failures[0]!.error)).toMatch(/nutcracker/);
    // The last good config is back in the file and serving; the rejected one is kept beside it.
    expect(readFileSync(conf, 'utf8')).toBe(good);
    expect(readFileSync(`${conf}.rejected`, 'utf8')).toBe(bad);
    const [host, port] = topo.proxy.listen.split(':') as [string, string];
    await waitFor(() => portAccepts(host, Number(port)), { timeoutMs: 5000, what: `nutcracker serving on ${topo.proxy.listen} again` });
    expect(proxyPid(topo)).not.toBeNull();
  }

  it('supervise mode: a hand edit that nutcracker -t accepts but cannot start on is reported once, and the last good config serves again', async () => {
    const { topo, conf, good, bad, agent } = await setup(SUPERVISE, 'supervise');
    const n0 = readEvents(topo).length;
    writeFileSync(conf, bad);
    await expectReportedOnceAndServing(topo, agent, n0, conf, good, bad);
  });

  it('haproxy mode: nutcracker gone and its file edited into one it cannot start on: reported once, restarted on the last good config', async () => {
    const { topo, conf, good, bad, agent } = await setup(HAPROXY, 'haproxy');
    const n0 = readEvents(topo).length;
    const pid = proxyPid(topo)!;
    writeFileSync(conf, bad);
    await stopPid(pid, { graceMs: 2000 });
    await expectReportedOnceAndServing(topo, agent, n0, conf, good, bad);
    expect(existsSync(haproxyPaths(topo.stateDir).pid)).toBe(true);
  });

  for (const [base, mode] of [[SUPERVISE_HELD, 'supervise'], [HAPROXY_HELD, 'haproxy']] as const) {
    it(`${mode} mode: nutcracker's address held by another process: reported once, retried on a backoff, serving once the address is free`, async () => {
      const { topo, agent, release } = await setup(base, mode, { listenHeld: true });
      const failed = mode === 'supervise' ? 'apply-failed' : 'proxy-start-failed';
      await waitFor(() => readEvents(topo).some((e) => e.event === failed), { timeoutMs: 15_000, what: failed });
      // 40 passes at 100 ms: retries at 100, 200, 400, 800, 1600 ms ... all fail the same way.
      await passes(agent, 40);
      const seen = readEvents(topo).filter((e) => e.event === failed || e.event === 'proxy-down');
      expect(seen.map((e) => `${e.event}: ${String(e.error ?? e.why).slice(0, 160)}`)).toHaveLength(2);
      expect(String(seen.find((e) => e.event === failed)!.error)).toMatch(/held by a process that is not the supervised nutcracker/);
      const n0 = readEvents(topo).length;
      await release();
      // The next retry (at most the 5 s cap of the backoff away) starts it.
      await waitFor(() => proxyPid(topo) !== null, { timeoutMs: 15_000, what: 'nutcracker started once its address is free' });
      const [host, port] = topo.proxy.listen.split(':') as [string, string];
      await waitFor(() => portAccepts(host, Number(port)), { timeoutMs: 5000, what: `nutcracker serving on ${topo.proxy.listen}` });
      if (mode === 'supervise') {
        await waitFor(() => eventsSince(topo, n0).some((e) => e.event === 'apply-recovered'), { timeoutMs: 5000, what: 'apply-recovered' });
        expect(eventsSince(topo, n0).find((e) => e.event === 'apply-recovered')!.failures).toBeGreaterThan(1);
      } else {
        // Emitted once the agent's own wait for the port has returned, which can be just after the one above.
        await waitFor(() => eventsSince(topo, n0).some((e) => e.event === 'proxy-restarted'), { timeoutMs: 5000, what: 'proxy-restarted' });
      }
    });
  }
});
