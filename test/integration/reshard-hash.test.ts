import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readState } from '../../src/reshard/index.js';
import { startStack, type TestStack } from '../support/stack.js';
import { client, editDescription, loadMixed, proxyMasters, snapshot, verifyPlacement, Workload } from './reshard-helpers.js';

// Ports 25200-25249: s1 25200-2, s2 25210-2, sentinels 25220-2, proxy 25230/31.
const BASE = 25200;

describe('reshard (apply mode haproxy): change the hash (keys move both ways) under load, kill -9 just before the switch, resume', () => {
  let s: TestStack;
  beforeAll(async () => {
    s = await startStack(BASE);
  }, 120_000);
  afterAll(async () => {
    await s?.stop();
  }, 60_000);

  it('every key ends on the shard the murmur ring names, values and TTLs kept', async () => {
    const proxy = client(s.topo.proxy.listen);
    await loadMixed(proxy, 3000, s.topo);
    proxy.disconnect();
    const before = await snapshot(proxyMasters(s.topo));
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
    await new Promise((r) => setTimeout(r, 300));
    await w.stop();

    const events = resumed.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const cut = events.find((e) => e.type === 'cut');
    expect(cut?.mode).toBe('proxy-stop');
    console.log(`reshard hash (haproxy mode): cut pause ${cut?.pauseMs} ms, ${w.ops} ops by the workload`);
    expect(events.some((e) => e.type === 'phase' && e.phase === 'done')).toBe(true);
    expect(w.wrongReads).toEqual([]);
    expect(await w.finalCheck()).toEqual([]);
    expect(await verifyPlacement(s.topo, before, (k) => k.startsWith('w:')).then((x) => x.slice(0, 10))).toEqual([]);
  }, 240_000);
});
