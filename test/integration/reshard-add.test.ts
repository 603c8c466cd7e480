import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readState } from '../../src/reshard/index.js';
import { ourPid } from '../../src/runtime/index.js';
import { agentPaths, haproxyPaths, proxyPaths } from '../../src/topology/index.js';
import { client, editDescription, finishAndVerify, haproxyPids, loadAndSnapshot, proxyMasters, reshardStack, Workload } from './reshard-helpers.js';

// Ports 25000-25049: s1 25000-2, s2 25010-2, sentinels 25020-2, proxy 25030/31, HAProxy frontends 25040-2
// (derived), added s3 25045-7.
const BASE = 25000;
const a = (p: number) => `127.0.0.1:${BASE + p}`;

describe('reshard (apply mode haproxy): add a shard under load, kill -9 at a phase, resume', () => {
  const stack = reshardStack(BASE);

  it('plan changes nothing; the run moves ~1/3 of the keys to s3; every key ends on the shard the ring names', async () => {
    const s = stack();
    const before = await loadAndSnapshot(s);
    // s3 on the ports s1's and s2's derived frontends hold: refused, naming the field that pins them.
    editDescription(s, (d) => {
      (d.shards as unknown[]).push({ name: 's3', master: a(40), instances: [a(40), a(41), a(42)] });
    });
    const clash = await s.cli(['reshard', '--plan']);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toMatch(/proxy\.haproxy\.frontends\.s1 would move from 127\.0\.0\.1:25040/);
    editDescription(s, (d) => {
      (d.shards as Array<{ name: string }>).pop();
      (d.shards as unknown[]).push({ name: 's3', master: a(45), instances: [a(45), a(46), a(47)] });
    });

    const plan = await s.cli(['reshard', '--plan', '--json']);
    expect(plan.code, plan.stderr).toBe(0);
    const p = JSON.parse(plan.stdout);
    expect(p.change.added).toEqual(['s3']);
    expect(p.cutMode).toBe('pause');
    expect(p.totalKeys).toBeGreaterThan(800);
    expect(p.flows.every((f: { to: string }) => f.to === 's3')).toBe(true);
    expect(readState(s.topo.stateDir)).toBeNull();

    const w = new Workload(s.topo.proxy.listen);
    w.start();
    // Killed (SIGKILL) on entering the copy phase, then resumed by another process.
    const killed = await s.cli(['reshard', '--yes', '--json'], { env: { REDIS_SHARD_RESHARD_EXIT_AT: 'copying' } });
    expect(killed.code).not.toBe(0);
    expect(readState(s.topo.stateDir)?.phase).toBe('copying');
    const status = await s.cli(['status', '--json']);
    expect(status.stdout + status.stderr).toMatch(/reshard/);
    const resumed = await s.cli(['reshard', '--resume', '--json']);
    expect(resumed.code, resumed.stderr + resumed.stdout).toBe(0);
    const events = await finishAndVerify(s, w, before, resumed.stdout);
    // Unthrottled: each source's pass read a snapshot from one of its replicas (not key by key).
    for (const shard of ['s1', 's2']) {
      expect(events.some((e) => e.type === 'info' && String(e.message).startsWith(`shard ${shard}: snapshot of `)), `a snapshot pass of ${shard}`).toBe(true);
    }
    const cut = events.find((e) => e.type === 'cut')!;
    expect(cut.mode).toBe('pause');
    expect(cut.pauseMs).toBeGreaterThan(0);
    expect(readState(s.topo.stateDir)).toBeNull();
    expect(Object.keys(proxyMasters(s.topo)).sort()).toEqual(['s1', 's2', 's3']);
    // nutcracker's new line for s3 points at s3's new HAProxy frontend, which sends to s3's master.
    const nut = readFileSync(proxyPaths(s.topo.stateDir).conf, 'utf8');
    expect(nut).toMatch(/127\.0\.0\.1:25042:1 s3/);
    expect(proxyMasters(s.topo).s3).toBe(a(45));
    // The successor HAProxy started beside the old one before the pause; the old one is gone.
    expect(haproxyPids(s.topo.stateDir)).toEqual([ourPid(haproxyPaths(s.topo.stateDir).pid, s.topo.stateDir)]);
    console.log(`reshard add (haproxy mode): cut pause ${cut.pauseMs} ms, ${w.ops} ops by the workload`);

    // The agent never judged the proxy config wrong along the way (it knows the reshard's ring), and the
    // restarted agent reads the new description: it watches s3 too.
    const agentEvents = readFileSync(agentPaths(s.topo.stateDir).events, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type?: string; event?: string });
    expect(agentEvents.filter((e) => (e.type ?? e.event) === 'config-invalid')).toEqual([]);
    // The sentinels monitor s3 now.
    const sent = client(a(20));
    expect(await sent.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 's3')).toEqual(['127.0.0.1', String(BASE + 45)]);
    sent.disconnect();
  }, 240_000);
});
