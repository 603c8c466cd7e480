import { describe, expect, it } from 'vitest';
import { readState } from '../../src/reshard/index.js';
import { editDescription, finishAndVerify, loadAndSnapshot, proxyMasters, reshardStack, Workload } from './reshard-helpers.js';

// Ports 31650-31697: s1 31650-2, s2 31660-2, sentinels 31670-2, proxy 31680/81, HAProxy frontends 31690-1
// (derived), added s3 31695-7.
const BASE = 31650;
const a = (p: number) => `127.0.0.1:${BASE + p}`;

/**
 * The phases the other reshard tests do not kill in: right after the plan is recorded, after the added shard
 * started, right after the commit and inside the cleanup. One reshard, killed (SIGKILL) once in each, resumed by
 * a new process each time; after the commit it can only go forward. Under a writer/reader through the proxy.
 */
describe('reshard: kill -9 in every remaining phase, --resume each time', () => {
  const stack = reshardStack(BASE);

  it('planned, shard-started, committed, cleaning: each resumed; --abort refused after the commit; every key right', async () => {
    const s = stack();
    const before = await loadAndSnapshot(s);
    editDescription(s, (d) => {
      (d.shards as unknown[]).push({ name: 's3', master: a(45), instances: [a(45), a(46), a(47)] });
    });
    const w = new Workload(s.topo.proxy.listen);
    w.start();
    const killedAt = async (args: string[], phase: string) => {
      const r = await s.cli([...args, '--json'], { env: { REDIS_SHARD_RESHARD_EXIT_AT: phase } });
      expect(r.code, `killed at ${phase}: ${r.stderr}`).not.toBe(0);
      return r;
    };
    await killedAt(['reshard', '--yes'], 'planned');
    expect(readState(s.topo.stateDir)?.phase).toBe('planned');
    await killedAt(['reshard', '--resume'], 'shard-started');
    expect(readState(s.topo.stateDir)?.phase).toBe('shard-started');
    await killedAt(['reshard', '--resume'], 'committed');
    expect(readState(s.topo.stateDir)?.phase).toBe('committed');
    // Past the commit: the proxy serves the new ring already, so there is no way back.
    const abort = await s.cli(['reshard', '--abort']);
    expect(abort.code).toBe(2);
    expect(abort.stderr).toMatch(/past its commit.*--resume/);
    expect(Object.keys(proxyMasters(s.topo)).sort()).toEqual(['s1', 's2', 's3']);
    await killedAt(['reshard', '--resume'], 'cleaning');
    expect(readState(s.topo.stateDir)?.phase).toBe('cleaning');
    const resumed = await s.cli(['reshard', '--resume', '--json']);
    expect(resumed.code, resumed.stderr + resumed.stdout).toBe(0);
    await finishAndVerify(s, w, before, resumed.stdout);
    expect(readState(s.topo.stateDir)).toBeNull();
  }, 240_000);
});
