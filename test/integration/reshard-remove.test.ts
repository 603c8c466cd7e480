import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ourPid } from '../../src/runtime/index.js';
import { readState } from '../../src/reshard/index.js';
import { haproxyPaths, proxyPaths, redisPaths } from '../../src/topology/index.js';
import { client, editDescription, finishAndVerify, haproxyPids, loadAndSnapshot, proxyMasters, reshardStack, Workload } from './reshard-helpers.js';

// Ports 25100-25149: s1 25100-2, s2 25110-2, sentinels 25120-2, proxy 25130/31, HAProxy frontends 25133-5, s3 25140-2.
const BASE = 25100;
const a = (p: number) => `127.0.0.1:${BASE + p}`;

describe('reshard (apply mode haproxy): remove a shard under load, kill -9 at the cut, resume', () => {
  const shards = [
    { name: 's1', master: a(0), instances: [a(0), a(1), a(2)] },
    { name: 's2', master: a(10), instances: [a(10), a(11), a(12)] },
    { name: 's3', master: a(40), instances: [a(40), a(41), a(42)] },
  ];
  // Frontends given: derived ones would move when s3's ports are freed (reshard refuses that).
  const stack = reshardStack(BASE, { shards, proxy: { listen: a(30), stats: a(31), haproxy: { frontends: { s1: a(33), s2: a(34), s3: a(35) } } } });

  it("moves only s3's keys, stops s3 and no sentinel monitors it", async () => {
    const s = stack();
    const before = await loadAndSnapshot(s);
    editDescription(s, (d) => {
      d.shards = (d.shards as Array<{ name: string }>).filter((x) => x.name !== 's3');
      delete (d.proxy as { haproxy: { frontends: Record<string, string> } }).haproxy.frontends.s3;
    });
    const plan = await s.cli(['reshard', '--plan', '--json']);
    expect(plan.code, plan.stderr).toBe(0);
    const p = JSON.parse(plan.stdout);
    expect(p.change.removed).toEqual(['s3']);
    expect(p.sources).toEqual(['s3']);

    const w = new Workload(s.topo.proxy.listen);
    w.start();
    const killed = await s.cli(['reshard', '--yes', '--json'], { env: { REDIS_SHARD_RESHARD_EXIT_AT: 'cutting' } });
    expect(killed.code).not.toBe(0);
    expect(readState(s.topo.stateDir)?.phase).toBe('cutting');
    // Killed again inside the cut, with the successor HAProxy (no s3 frontend) running beside the old one: the
    // next resume goes back to a HAProxy on the old config (s3's keys stay reachable) before it copies again.
    const killedInCut = await s.cli(['reshard', '--resume', '--json'], { env: { REDIS_SHARD_RESHARD_EXIT_AT: 'switching' } });
    expect(killedInCut.code).not.toBe(0);
    expect(haproxyPids(s.topo.stateDir).length).toBe(2);
    const resumed = await s.cli(['reshard', '--resume', '--json']);
    expect(resumed.code, resumed.stderr + resumed.stdout).toBe(0);
    const events = await finishAndVerify(s, w, before, resumed.stdout);
    // Unthrottled: each source's pass read a snapshot from one of its replicas (not key by key).
    for (const shard of ['s3']) {
      expect(events.some((e) => e.type === 'info' && String(e.message).startsWith(`shard ${shard}: snapshot of `)), `a snapshot pass of ${shard}`).toBe(true);
    }
    const cut = events.find((e) => e.type === 'cut');
    expect(cut?.mode).toBe('pause');
    console.log(`reshard remove (haproxy mode): cut pause ${cut?.pauseMs} ms, ${w.ops} ops by the workload`);
    expect(events.some((e) => e.type === 'shard-removed' && e.shard === 's3')).toBe(true);
    expect(Object.keys(proxyMasters(s.topo)).sort()).toEqual(['s1', 's2']);
    // HAProxy dropped s3's frontend and backend; nutcracker's lines still point at the kept frontends.
    expect(readFileSync(haproxyPaths(s.topo.stateDir).conf, 'utf8')).not.toMatch(/fe_s3|be_s3|:25135/);
    // One HAProxy left, the one its pid file names.
    expect(haproxyPids(s.topo.stateDir)).toEqual([ourPid(haproxyPaths(s.topo.stateDir).pid, s.topo.stateDir)]);
    expect(readFileSync(proxyPaths(s.topo.stateDir).conf, 'utf8')).toMatch(/127\.0\.0\.1:25133:1 s1[\s\S]*127\.0\.0\.1:25134:1 s2/);
    for (const i of [40, 41, 42]) expect(ourPid(redisPaths(s.topo.stateDir, a(i)).pid, s.topo.stateDir)).toBeNull();
    // Its data dirs are gone too (every key lives on its new owner).
    for (const i of [40, 41, 42]) expect(existsSync(redisPaths(s.topo.stateDir, a(i)).dir)).toBe(false);
    for (const i of [20, 21, 22]) {
      const sent = client(a(i));
      expect(await sent.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 's3')).toBeNull();
      sent.disconnect();
    }
  }, 240_000);
});
