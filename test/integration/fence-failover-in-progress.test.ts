import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type Agent } from '../../src/agent/index.js';
import { renderNutcrackerYml } from '../../src/render/index.js';
import { portAccepts, stopPid, waitFor } from '../../src/runtime/index.js';
import { loadTopology, proxyPaths, type Topology } from '../../src/topology/index.js';
import { bulk, respServer } from '../support/fake-sentinel.js';
import { killLeftovers, testDescription } from '../support/stack.js';
import { proxyServers, readEvents } from './agent-helpers.js';

// Ports 31400-31431 belong to this file: s1's instances 31400 (M) and 31401 (R), two standalone redis-servers
// (both say ROLE master, so nothing confirms M); s2's 31410-12 and s1's 31402 (nothing listens); three scripted
// sentinels 31420-22; nutcracker 31430/31431 (started by the agent, apply mode supervise).
// What partitions.test.ts saw after a heal: the majority back and still naming the old master while a sentinel was
// failing the shard over; the promotion followed 1.2 s later. A fence lifted onto the old master then has writes
// acknowledged that the promotion discards. The scripted sentinels say exactly that here.
const BASE = 31400;
const M = `127.0.0.1:${BASE}`;
const R = `127.0.0.1:${BASE + 1}`;

interface View {
  addr: string;
  epoch: number;
  flags: string;
}
/** A sentinel that answers what `state` says now (GET-MASTER-ADDR-BY-NAME, MASTER), or nothing while silent. */
interface Scripted {
  silent: boolean;
  views: Record<string, View>;
}

function scriptedSentinel(port: number, state: Scripted): Promise<Server> {
  return respServer(port, (cmd, sock) => {
    if (state.silent) return;
    const op = cmd[0]!.toUpperCase();
    if (op === 'PSUBSCRIBE') sock.write(`*3\r\n${bulk('psubscribe')}${bulk('*')}:1\r\n`);
    else if (op === 'SENTINEL') {
      const v = state.views[cmd[2] ?? ''];
      if (!v) sock.write('$-1\r\n');
      else {
        const [ip, p] = v.addr.split(':') as [string, string];
        sock.write(
          cmd[1]!.toUpperCase() === 'MASTER'
            ? `*8\r\n${bulk('ip')}${bulk(ip)}${bulk('port')}${bulk(p)}${bulk('flags')}${bulk(v.flags)}${bulk('config-epoch')}${bulk(String(v.epoch))}`
            : `*2\r\n${bulk(ip)}${bulk(p)}`,
        );
      }
    } else sock.write('+OK\r\n');
  });
}

describe('a fence and a failover in progress (apply mode supervise, scripted sentinels)', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  const redis: ChildProcess[] = [];
  const sentinels: Scripted[] = [0, 1, 2].map(() => ({ silent: false, views: {} }));
  let topo: Topology;
  let agent: Agent;
  const say = (i: number, s1: View) => {
    sentinels[i]!.views = { s1, s2: { addr: `127.0.0.1:${BASE + 10}`, epoch: 1, flags: 'master' } };
  };
  const since = (t: number) => readEvents(topo).filter((e) => Date.parse(e.ts) >= t);

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'redis-shard-fence-inprogress-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    for (const port of [BASE, BASE + 1]) {
      const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { cwd: dir, stdio: 'ignore' });
      redis.push(child);
      cleanup.push(async () => void (await stopPid(child.pid!, { graceMs: 2000 })));
      await waitFor(() => portAccepts('127.0.0.1', port), { timeoutMs: 10_000, what: `redis-server on ${port}` });
    }
    for (const [i, s] of sentinels.entries()) {
      say(i, { addr: M, epoch: 1, flags: 'master' });
      const srv = await scriptedSentinel(BASE + 20 + i, s);
      cleanup.push(() => new Promise<void>((r) => srv.close(() => r())));
    }
    const file = join(dir, 'redis-shard.yml');
    writeFileSync(file, stringify(testDescription(BASE, { agent: { apply: 'supervise', reconcileIntervalMs: 100 } })));
    topo = loadTopology({ config: file });
    cleanup.push(() => killLeftovers(topo.stateDir));
    mkdirSync(proxyPaths(topo.proxyDir).dir, { recursive: true });
    writeFileSync(proxyPaths(topo.proxyDir).conf, renderNutcrackerYml(topo, {}, null));
    agent = startAgent(topo, { password: null });
    cleanup.push(() => agent.stop());
    const [host, port] = topo.proxy.listen.split(':') as [string, string];
    await waitFor(() => portAccepts(host, Number(port)), { timeoutMs: 15_000, what: `nutcracker on ${topo.proxy.listen}` });
  }, 60_000);

  afterAll(async () => {
    for (const s of sentinels) s.silent = false;
    for (const c of cleanup.splice(0).reverse()) await c();
  }, 60_000);

  it('the majority names the old master with a failover in progress: stays fenced; it names the new one: lifted onto it at once', async () => {
    expect(proxyServers(topo).s1).toBe(M);
    const t0 = Date.now();
    // The agent's minority: two of three sentinels stop answering; M answers ROLE master, nothing replicates from it.
    sentinels[1]!.silent = true;
    sentinels[2]!.silent = true;
    const fence = await waitFor(() => since(t0).find((e) => e.event === 'fence'), { timeoutMs: 15_000, what: 'the agent to fence s1' });
    expect(fence).toMatchObject({ shard: 's1', from: M, to: topo.agent.fence.address });

    // The split heals with the majority's failover still going: all three name M, one with failover_in_progress.
    const tHeal = Date.now();
    say(0, { addr: M, epoch: 1, flags: 'master,failover_in_progress' });
    sentinels[1]!.silent = false;
    sentinels[2]!.silent = false;
    await waitFor(() => since(tHeal).find((e) => e.event === 'reconcile-hold' && e.reason === 'fenced-failover-in-progress'), {
      timeoutMs: 15_000,
      what: 'the hold for the failover in progress',
    });
    const p0 = agent.passCount;
    await waitFor(() => agent.passCount >= p0 + 10, { timeoutMs: 30_000, what: 'ten more passes' });
    expect(since(tHeal).filter((e) => e.event === 'unfence')).toEqual([]);
    expect(proxyServers(topo).s1).toBe(topo.agent.fence.address);

    // The promotion: the majority names R at the next epoch while the leader still reports the failover in
    // progress (it reconfigures replicas): the fence comes off onto R at once, in the switch.
    const tPromoted = Date.now();
    say(0, { addr: R, epoch: 2, flags: 'master,failover_in_progress' });
    say(1, { addr: R, epoch: 2, flags: 'master' });
    const unfence = await waitFor(() => since(tPromoted).find((e) => e.event === 'unfence'), { timeoutMs: 15_000, what: 'the unfence onto R' });
    expect(unfence).toMatchObject({ shard: 's1', to: R });
    expect(proxyServers(topo).s1).toBe(R);
    expect(since(t0).filter((e) => e.event === 'unfence')).toHaveLength(1);
  }, 90_000);
});
