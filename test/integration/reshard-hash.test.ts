import { describe, expect, it } from 'vitest';
import { readState } from '../../src/reshard/index.js';
import { editDescription, finishAndVerify, loadAndSnapshot, reshardStack, Workload } from './reshard-helpers.js';

// Ports 25200-25249: s1 25200-2, s2 25210-2, sentinels 25220-2, proxy 25230/31.
const BASE = 25200;

describe('reshard (apply mode haproxy): change the hash (keys move both ways) under load, kill -9 just before the switch, resume', () => {
  const stack = reshardStack(BASE);

  it('every key ends on the shard the murmur ring names, values and TTLs kept', async () => {
    const s = stack();
    const before = await loadAndSnapshot(s);
    editDescription(s, (d) => {
      (d.proxy as Record<string, unknown>).hash = 'murmur';
    });
    const plan = await s.cli(['reshard', '--plan', '--json']);
    expect(plan.code, plan.stderr).toBe(0);
    const p = JSON.parse(plan.stdout);
    expect(p.change.settings).toEqual(['hash fnv1a_64 -> murmur']);
    expect(p.cutMode).toBe('proxy-stop');
    expect(p.sources.sort()).toEqual(['s1', 's2']);

    const w = new Workload(s.topo.proxy.listen);
    w.start();
    // Killed inside the cut, under the apply lock, with the proxy stopped: nothing committed yet.
    const killed = await s.cli(['reshard', '--yes', '--json'], { env: { REDIS_SHARD_RESHARD_EXIT_AT: 'switching' } });
    expect(killed.code).not.toBe(0);
    expect(readState(s.topo.stateDir)?.phase).toBe('cutting');
    const resumed = await s.cli(['reshard', '--resume', '--json']);
    expect(resumed.code, resumed.stderr + resumed.stdout).toBe(0);
    const events = await finishAndVerify(s, w, before, resumed.stdout);
    // Unthrottled: each source's pass read a snapshot from one of its replicas (not key by key).
    for (const shard of ['s1', 's2']) {
      expect(events.some((e) => e.type === 'info' && String(e.message).startsWith(`shard ${shard}: snapshot of `)), `a snapshot pass of ${shard}`).toBe(true);
    }
    // Almost every key moves, the six strings over 1 MB too: copied from the live sources, not from the snapshots.
    expect(events.filter((e) => e.type === 'info' && /snapshot of .*, [1-9][0-9]* big ones copied from the source/.test(String(e.message))).length).toBeGreaterThan(0);
    const cut = events.find((e) => e.type === 'cut');
    expect(cut?.mode).toBe('proxy-stop');
    console.log(`reshard hash (haproxy mode): cut pause ${cut?.pauseMs} ms, ${w.ops} ops by the workload`);
  }, 240_000);
});
