import { copyFileSync, mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { unhealthyReason } from '../../src/ops/failover-observe.js';
import { ourPid, portAccepts, waitFor } from '../../src/runtime/index.js';
import { haproxyPaths, mustParseAddress, proxyPaths, sentinelPaths, type Topology } from '../../src/topology/index.js';
import { prepareStack, runCli, testDescription, type TestStack } from '../support/stack.js';
import {
  agentPid, diagnose, freePortDescription, eventsSince, majorityMaster, proxyPid, proxyServers, proxyWritesTo, readEvents,
  redisPid, sentinelMasterInfo, sentinelView, waitFailoverDone, type Ev,
} from './agent-helpers.js';

// Ports 13000-13999 belong to this file; 11 free ones are picked at start (agent-helpers, pickFreePorts).
const RANGE = [13000, 13999] as const;

describe('agent against a real stack', () => {
  let s: TestStack;
  let topo: Topology;

  beforeAll(async () => {
    s = prepareStack(RANGE[0], await freePortDescription(...RANGE));
    topo = s.topo;
    const r = await s.cli(['up', '--timeout', '90']);
    if (r.code !== 0) throw new Error(`up failed (${r.code}): ${r.stderr}${r.stdout}`);
    await waitFor(() => readEvents(topo).filter((e) => e.event === 'sentinel-connected').length >= 3, { timeoutMs: 10_000, what: 'the agent to connect to 3 sentinels' });
  });

  afterAll(async () => {
    await s?.stop();
  });

  /**
   * Each test that breaks something says so (`broke`), and afterEach puts the stack back whether the test passed
   * or failed: up starts what is not running, then the stack must be healthy (every instance linked, the sentinels
   * agreeing with no failover in progress, the proxy config on their master). So no test depends on another's
   * success, and any one of them can run alone (-t).
   */
  let dirty = false;
  const undo: Array<() => void> = [];
  const broke = (fn?: () => void) => {
    dirty = true;
    if (fn) undo.push(fn);
  };
  afterEach(async () => {
    for (const fn of undo.splice(0).reverse()) fn();
    if (!dirty) return;
    dirty = false;
    const r = await s.cli(['up', '--timeout', '90']);
    if (r.code !== 0) throw new Error(`up failed (${r.code}): ${r.stderr}${r.stdout}`);
    let why: string | null = null;
    await waitFor(async () => (why = await unhealthyReason(topo, null)) === null, { timeoutMs: 60_000, intervalMs: 200, what: 'the stack to be healthy again' }).catch((e) => {
      throw new Error(`${(e as Error).message}: ${why}`);
    });
  });

  /** Some key the proxy sends to `addr` (written through the proxy, read back on `addr`). */
  async function proxyReaches(addr: string): Promise<boolean> {
    for (let i = 0; i < 40; i++) if (await proxyWritesTo(topo, `agent-test:${i}`, addr)) return true;
    return false;
  }

  const failed = (ctx: { onTestFailed: (fn: () => Promise<void>) => void }) =>
    ctx.onTestFailed(async () => {
      process.stderr.write(`\n${await diagnose(topo)}\n`);
    });

  it('follows a kill -9 of a master: config = sentinels, exactly one failover', async (ctx) => {
    failed(ctx);
    const n0 = readEvents(topo).length;
    const old = (await majorityMaster(topo, 's1'))!;
    expect(old).not.toBeNull();
    const epochBefore = Number((await sentinelMasterInfo(topo, topo.sentinel.instances[0]!, 's1'))['config-epoch']);
    broke();
    process.kill(redisPid(topo, old), 'SIGKILL');
    const newMaster = await waitFailoverDone(topo, 's1', old);
    const ev = () => eventsSince(topo, n0);
    const firstSwitch = await waitFor(() => ev().find((e) => e.event === 'switch-seen' && e.shard === 's1'), { timeoutMs: 10_000, what: '+switch-master' });
    const applied = ev().find((e) => e.event === 'config-applied' && (e.changes as Array<{ shard: string; to: string }>).some((c) => c.shard === 's1' && c.to === newMaster))!;
    expect(applied).toBeDefined();
    // How fast is the benchmark's business (bench failover); here it is only reported.
    process.stdout.write(`first +switch-master -> config applied: ${Date.parse(applied.ts) - Date.parse(firstSwitch.ts)} ms\n`);
    expect(await proxyReaches(newMaster)).toBe(true);

    // Settled: every sentinel names the new master and none has a failover in progress.
    await waitFor(
      async () => {
        for (const sen of topo.sentinel.instances) {
          const m = await sentinelMasterInfo(topo, sen, 's1');
          if (`${m.ip}:${m.port}` !== newMaster || m.flags!.includes('failover_in_progress')) return false;
        }
        return true;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'all sentinels to finish the failover' },
    );
    // Observation window for a spurious second failover (seen once at down-after 1000, ~1 s after the first):
    // the new master must stay the master in every sentinel, with the epoch moved by exactly one election.
    const until = Date.now() + 2500;
    while (Date.now() < until) {
      expect(await sentinelView(topo, 's1')).toEqual([newMaster, newMaster, newMaster]);
      expect(proxyServers(topo).s1).toBe(newMaster);
      await new Promise((r) => setTimeout(r, 250));
    }
    const epochAfter = Number((await sentinelMasterInfo(topo, topo.sentinel.instances[0]!, 's1'))['config-epoch']);
    expect(epochAfter).toBe(epochBefore + 1);
    const targets = new Set(ev().filter((e) => e.event === 'switch-seen' && e.shard === 's1').map((e) => e.to));
    expect([...targets]).toEqual([newMaster]);
    const s1Applies = ev().filter((e) => e.event === 'config-applied' && (e.changes as Array<{ shard: string }>).some((c) => c.shard === 's1'));
    expect(s1Applies).toHaveLength(1);
    const timings = ev().find((e) => e.event === 'failover-timings' && e.shard === 's1');
    process.stdout.write(`failover timings: ${JSON.stringify(timings)}\n`);
  });

  it('restarts nutcracker when it is killed', async (ctx) => {
    failed(ctx);
    const n0 = readEvents(topo).length;
    const before = proxyPid(topo)!;
    expect(before).not.toBeNull();
    broke();
    process.kill(before, 'SIGKILL');
    const { host, port } = mustParseAddress(topo.proxy.listen);
    const after = await waitFor(
      async () => {
        const p = proxyPid(topo);
        return p !== null && p !== before && (await portAccepts(host, port)) ? p : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 20, what: 'a new nutcracker to serve' },
    );
    expect(after).not.toBe(before);
    expect(eventsSince(topo, n0).some((e) => e.event === 'proxy-down')).toBe(true);
    expect(await proxyReaches((await majorityMaster(topo, 's1'))!)).toBe(true);
  });

  it('converges when the agent is killed during a failover and restarted by its supervisor', async (ctx) => {
    failed(ctx);
    const n0 = readEvents(topo).length;
    const old = (await majorityMaster(topo, 's2'))!;
    const agentBefore = agentPid(topo)!;
    expect(agentBefore).not.toBeNull();
    broke();
    process.kill(redisPid(topo, old), 'SIGKILL');
    // Kill the agent as soon as it reports the failover under way (odown or the leader's choice).
    await waitFor(() => eventsSince(topo, n0).some((e) => (e.event === 'odown' && e.shard === 's2') || (e.event === 'sentinel-event' && e.type === '+selected-slave')), {
      timeoutMs: 20_000,
      intervalMs: 5,
      what: 'the failover of s2 to start',
    });
    process.kill(agentBefore, 'SIGKILL');
    const newMaster = await waitFailoverDone(topo, 's2', old);
    const agentAfter = await waitFor(() => {
      const p = agentPid(topo);
      return p !== null && p !== agentBefore ? p : undefined;
    }, { timeoutMs: 10_000, what: 'the supervisor to restart the agent' });
    expect(agentAfter).not.toBe(agentBefore);
    // Not only the file: the running nutcracker sends s2's keys to the new master.
    await waitFor(() => proxyReaches(newMaster), { timeoutMs: 10_000, intervalMs: 100, what: `the proxy to write to ${newMaster}` });
  });

  it('follows a failover with one of the three sentinels down', async (ctx) => {
    failed(ctx);
    const deadSentinel = topo.sentinel.instances[2]!;
    const spid = ourPid(sentinelPaths(topo.stateDir, deadSentinel).pid, topo.stateDir)!;
    broke();
    process.kill(spid, 'SIGKILL');
    const old = (await majorityMaster(topo, 's1'))!;
    expect(old).not.toBeNull();
    process.kill(redisPid(topo, old), 'SIGKILL');
    const newMaster = await waitFailoverDone(topo, 's1', old);
    expect(await proxyReaches(newMaster)).toBe(true);
  });

  it('keeps the last good config when the file the agent edits (nutcracker.yml, or haproxy.cfg in mode haproxy) is hand-edited into something invalid, and still follows a failover', async (ctx) => {
    failed(ctx);
    const haproxy = topo.agent.apply === 'haproxy';
    const conf = haproxy ? haproxyPaths(topo.stateDir).conf : proxyPaths(topo.stateDir).conf;
    const good = readFileSync(conf, 'utf8');
    const pidBefore = proxyPid(topo);
    const n0 = readEvents(topo).length;
    const bad = haproxy ? good.replace('    retries 0', '    retries 0\n    bogus_key 1') : good.replace('  servers:', '  bogus_key: 1\n  servers:');
    expect(bad).not.toBe(good);
    // If the test fails before the agent repairs it, the good config goes back (the agent then applies its own).
    broke(() => {
      if (readFileSync(conf, 'utf8').includes('bogus_key')) writeFileSync(conf, good);
    });
    writeFileSync(conf, bad);
    await waitFor(() => eventsSince(topo, n0).some((e) => e.event === 'config-invalid'), { timeoutMs: 5000, what: 'config-invalid' });
    const invalid = eventsSince(topo, n0).find((e) => e.event === 'config-invalid')!;
    expect(String(invalid.error)).toMatch(haproxy ? /haproxy rejects it/ : /nutcracker rejects it/);
    // The running proxy is left alone: not restarted on a config it would reject.
    expect(proxyPid(topo)).toBe(pidBefore);
    const old = (await majorityMaster(topo, 's2'))!;
    process.kill(redisPid(topo, old), 'SIGKILL');
    const newMaster = await waitFailoverDone(topo, 's2', old);
    expect(await proxyReaches(newMaster)).toBe(true);
    expect(readFileSync(`${conf}.rejected`, 'utf8')).toBe(bad);
    expect(readFileSync(conf, 'utf8')).not.toContain('bogus_key');
  });

  describe('notify', () => {
    const conf = () => readFileSync(proxyPaths(topo.stateDir).conf, 'utf8');

    it('rejects garbage arguments with exit 2 and changes nothing', async () => {
      const before = conf();
      const [a, b] = topo.shards[0]!.instances.map((i) => String(mustParseAddress(i).port));
      const cases = [
        [],
        ['s1', 'leader', 'start', '127.0.0.1', '1'],
        ['s1', 'leader', 'start', '127.0.0.1', a!, '127.0.0.1;reboot', b!],
        ['s1', 'leader', 'start', '127.0.0.1', a!, '127.0.0.1', '99999'],
        ['s1', 'king', 'start', '127.0.0.1', a!, '127.0.0.1', b!],
      ];
      const results = await Promise.all(cases.map((args) => s.cli(['notify', ...args])));
      results.forEach((r, i) => {
        expect(r.code, `${cases[i]!.join(' ')}: ${r.stderr}`).toBe(2);
        expect(r.stderr).not.toBe('');
      });
      expect(conf()).toBe(before);
    });

    it('an unknown master name or an address outside the shard: exit 2, says why', async () => {
      const before = conf();
      const port = (addr: string) => String(mustParseAddress(addr).port);
      const [a, b] = topo.shards[0]!.instances;
      const unknown = await s.cli(['notify', 'nope', 'leader', 'start', '127.0.0.1', port(a!), '127.0.0.1', port(b!)]);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/"nope" is not a shard/);
      const outside = await s.cli(['notify', 's1', 'leader', 'start', '127.0.0.1', port(a!), '127.0.0.1', port(topo.shards[1]!.instances[1]!)]);
      expect(outside.code).toBe(2);
      expect(outside.stderr).toMatch(/not an instance of shard s1/);
      expect(conf()).toBe(before);
    });

    it('is idempotent (exit 0, nothing written) and refuses a replica (exit 4)', async () => {
      const before = conf();
      const master = mustParseAddress((await majorityMaster(topo, 's1'))!);
      const again = await s.cli(['notify', 's1', 'observer', 'start', '127.0.0.1', '1', master.host, String(master.port)]);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toMatch(/already applied/);
      const replica = topo.shards[0]!.instances.find((i) => i !== `${master.host}:${master.port}`)!;
      const r = mustParseAddress(replica);
      const refused = await s.cli(['notify', 's1', 'leader', 'start', master.host, String(master.port), r.host, String(r.port)]);
      expect(refused.code, refused.stderr).toBe(4);
      expect(refused.stderr).toMatch(/replica/);
      expect(conf()).toBe(before);
    });

    it('an unwritable staging path: exit 3, says why, writes nothing', async () => {
      // A second description in staging mode whose staging file lies under a regular file (ENOTDIR, even for root),
      // with its own state dir holding a proxy config that points s1 at a replica, so notify gets to the write.
      const dir = join(s.dir, 'staging');
      mkdirSync(join(dir, 'state', 'proxy'), { recursive: true });
      writeFileSync(join(dir, 'not-a-dir'), 'x');
      const file = join(dir, 'redis-shard.yml');
      const same = { shards: topo.shards, sentinel: topo.sentinel, proxy: topo.proxy };
      writeFileSync(file, stringify(testDescription(RANGE[0], { ...same, agent: { apply: 'staging', stagingFile: join(dir, 'not-a-dir', 'staged.yml') } })));
      const master = (await majorityMaster(topo, 's1'))!;
      const replica = topo.shards[0]!.instances.find((i) => i !== master)!;
      const other = join(dir, 'state', 'proxy', 'nutcracker.yml');
      copyFileSync(proxyPaths(topo.stateDir).conf, other);
      writeFileSync(other, readFileSync(other, 'utf8').replace(`${master}:1 s1`, `${replica}:1 s1`));
      const before = readFileSync(other, 'utf8');
      const m = mustParseAddress(master);
      const r = await runCli(['-c', file, 'notify', 's1', 'leader', 'start', '127.0.0.1', '1', m.host, String(m.port)], { cwd: dir });
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/cannot write .*staged\.yml: (ENOTDIR|EEXIST)/);
      expect(readFileSync(other, 'utf8')).toBe(before);
      expect(existsSync(join(dir, 'not-a-dir', 'staged.yml'))).toBe(false);
    });
  });

  it('on SIGTERM the agent closes and exits 0, leaving nutcracker running', async (ctx) => {
    failed(ctx);
    const n0 = readEvents(topo).length;
    const agent = agentPid(topo)!;
    const proxy = proxyPid(topo);
    broke();
    process.kill(agent, 'SIGTERM');
    await waitFor(() => eventsSince(topo, n0).some((e) => e.event === 'agent-stopped'), { timeoutMs: 10_000, what: 'agent-stopped' });
    await waitFor(() => readFileSync(join(topo.stateDir, 'agent', 'agent.log'), 'utf8').includes('child exited (code 0)'), {
      timeoutMs: 10_000,
      what: 'the supervisor to log the exit code',
    });
    expect(proxyPid(topo)).toBe(proxy);
    // Its supervisor starts it again, and the new one adopts the same nutcracker without restarting it.
    await waitFor(() => agentPid(topo) !== null && agentPid(topo) !== agent, { timeoutMs: 10_000, what: 'the agent to be restarted' });
    await waitFor(() => eventsSince(topo, n0).filter((e) => e.event === 'sentinel-connected').length >= 3, { timeoutMs: 10_000, what: 'reconnection' });
    expect(proxyPid(topo)).toBe(proxy);
  });

  it('logged one JSON object per line, each with ts and event', () => {
    const lines = readFileSync(join(topo.stateDir, 'agent', 'events.jsonl'), 'utf8').split('\n').filter(Boolean);
    // Alone (-t) only `up`'s agent start has logged: agent-started, three sentinel-connected.
    expect(lines.length).toBeGreaterThanOrEqual(4);
    for (const l of lines) {
      const e = JSON.parse(l) as Ev;
      expect(typeof e.ts).toBe('string');
      expect(typeof e.event).toBe('string');
    }
    // Never restarted the proxy for no reason: nutcracker started by `up` was adopted as running its config.
    expect(readEvents(topo).filter((e) => e.event === 'proxy-stale')).toEqual([]);
    expect(readEvents(topo).filter((e) => e.event === 'reconcile-error' || e.event === 'fast-path-error')).toEqual([]);
  });
});
