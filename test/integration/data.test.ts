import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkData, clearData, keyAt, loadData, valueFor, type DataCheck } from '../../src/ops/data.js';
import { ringForTopology } from '../../src/ops/locate.js';
import { withClient } from '../../src/runtime/index.js';
import { upStack, type TestStack } from '../support/stack.js';

// Ports 15100-15131 belong to this file.
const BASE = 15100;
const PREFIX = 'rs:data:';

describe('data load / check / clear', () => {
  let s: TestStack;
  beforeAll(async () => {
    s = await upStack(BASE);
  });
  afterAll(async () => {
    await s?.stop();
  });

  const check = async (args: string[] = []) => {
    const r = await s.cli(['data', 'check', '--json', ...args]);
    return { code: r.code, stderr: r.stderr, result: JSON.parse(r.stdout) as DataCheck };
  };
  const masterOf = (shard: number) => s.topo.shards[shard]!.master;

  it('load then check: 1000/1000 present, exit 0, keys split over both shards as the ring says', async () => {
    const load = await s.cli(['data', 'load']);
    expect(load.stderr).toBe('');
    expect(load.code).toBe(0);
    expect(load.stdout).toMatch(/^loaded 1000 keys rs:data:0\.\.rs:data:999 through 127\.0\.0\.1:15130/);
    const text = await s.cli(['data', 'check']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('Redis OK (1000 items all existed)');
    const { code, result } = await check();
    expect(code).toBe(0);
    expect(result).toMatchObject({ count: 1000, present: 1000, missing: 0, wrong: 0, misplaced: 0, onSeveralShards: 0, ok: true });
    const ring = ringForTopology(s.topo);
    const expected = [0, 0];
    for (let i = 0; i < 1000; i++) expected[ring.locate(Buffer.from(keyAt(PREFIX, i)))]!++;
    expect(result.perShard).toEqual([
      { name: 's1', master: masterOf(0), keys: expected[0], reachable: true },
      { name: 's2', master: masterOf(1), keys: expected[1], reachable: true },
    ]);
    expect(expected[0]! > 0 && expected[1]! > 0).toBe(true);
  });

  it('each key lives on exactly one shard: on its master and that master\'s replicas, nowhere else', async () => {
    const ring = ringForTopology(s.topo);
    const keys = Array.from({ length: 1000 }, (_, i) => keyAt(PREFIX, i));
    // WAIT on each master: its replicas have acknowledged everything written so far.
    for (const sh of s.topo.shards) {
      await withClient(sh.master, null, async (c) => expect(await c.call('WAIT', '2', '5000')).toBe(2), { timeoutMs: 6000 });
    }
    const found = new Map<string, number[]>();
    for (const [shardIndex, sh] of s.topo.shards.entries()) {
      for (const addr of sh.instances) {
        const exists = await withClient(addr, null, async (c) => {
          const pipe = c.pipeline();
          for (const k of keys) pipe.exists(k);
          return ((await pipe.exec()) ?? []).map(([, v]) => v === 1);
        });
        keys.forEach((k, i) => {
          if (!exists[i]) return;
          const list = found.get(k) ?? [];
          if (!list.includes(shardIndex)) list.push(shardIndex);
          found.set(k, list);
        });
        const here = keys.filter((k, i) => exists[i]);
        expect(here.every((k) => ring.locate(Buffer.from(k)) === shardIndex), `${addr} holds only keys of ${sh.name}`).toBe(true);
        expect(here.length, `${addr}`).toBe(keys.filter((k) => ring.locate(Buffer.from(k)) === shardIndex).length);
      }
    }
    expect(keys.every((k) => found.get(k)?.length === 1)).toBe(true);
  });

  it('a key deleted on its master: check exits 4 with missing=1', async () => {
    const ring = ringForTopology(s.topo);
    const key = keyAt(PREFIX, 42);
    const home = ring.locate(Buffer.from(key));
    await withClient(masterOf(home), null, async (c) => expect(await c.del(key)).toBe(1));
    const { code, result, stderr } = await check();
    expect(code).toBe(4);
    expect(stderr).toMatch(/data check failed: 1 missing \(of 1000\)/);
    expect(result).toMatchObject({ present: 999, missing: 1, wrong: 0, misplaced: 0, ok: false });
    expect((await s.cli(['data', 'load'])).code).toBe(0);
  });

  it('a wrong value is counted as wrong', async () => {
    const key = keyAt(PREFIX, 7);
    await withClient(s.topo.proxy.listen, null, async (c) => c.set(key, 'not the derived value'));
    const { code, result } = await check();
    expect(code).toBe(4);
    expect(result).toMatchObject({ present: 999, missing: 0, wrong: 1, ok: false });
    await withClient(s.topo.proxy.listen, null, async (c) => c.set(key, valueFor(key)));
  });

  it('a key planted directly on the wrong shard is flagged as misplaced and on several shards', async () => {
    const ring = ringForTopology(s.topo);
    const key = keyAt(PREFIX, 5);
    const wrongShard = 1 - ring.locate(Buffer.from(key));
    await withClient(masterOf(wrongShard), null, async (c) => c.set(key, valueFor(key)));
    const { code, result } = await check();
    expect(code).toBe(4);
    expect(result).toMatchObject({ present: 1000, missing: 0, misplaced: 1, onSeveralShards: 1, ok: false });
    const text = await s.cli(['data', 'check']);
    expect(text.stdout).toContain('placement: 1 keys on a shard the ring does not predict, 1 on more than one shard');
    // Only on the wrong shard: the proxy cannot find it, and it is still misplaced.
    const home = 1 - wrongShard;
    await withClient(masterOf(home), null, async (c) => c.del(key));
    const again = await check();
    expect(again.result).toMatchObject({ missing: 1, misplaced: 1, onSeveralShards: 0, ok: false });
  });

  it('clear removes every key, including the copy planted on the wrong shard', async () => {
    const r = await s.cli(['data', 'clear']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^deleted 999 keys through the proxy, and 1 copies left on shard masters/);
    const { result } = await check();
    expect(result).toMatchObject({ present: 0, missing: 1000, misplaced: 0, ok: false });
    expect(result.perShard.map((p) => p.keys)).toEqual([0, 0]);
  });

  it('the exported API: loadData, checkData and clearData with another prefix and a progress callback', async () => {
    const seen: number[] = [];
    const loaded = await loadData(s.topo, { count: 1200, prefix: 'api:', onProgress: (d) => seen.push(d) });
    expect(loaded.loaded).toBe(1200);
    expect(seen).toEqual([500, 1000, 1200]);
    const c = await checkData(s.topo, { count: 1200, prefix: 'api:' });
    expect(c).toMatchObject({ count: 1200, present: 1200, missing: 0, wrong: 0, errors: 0, misplaced: 0, onSeveralShards: 0, ok: true });
    expect(c.perShard.reduce((n, p) => n + p.keys, 0)).toBe(1200);
    expect(await clearData(s.topo, { count: 1200, prefix: 'api:' })).toEqual({ deleted: 1200, strays: 0 });
  });

  it('bad options are named', async () => {
    const r1 = await s.cli(['data', 'load', '--count', 'many']);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toMatch(/--count: expected a whole number, got "many"/);
    const r2 = await s.cli(['data', 'check', '--prefix', '']);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/--prefix: must not be empty/);
    const r3 = await s.cli(['data', 'frob']);
    expect(r3.code).toBe(2);
  });
});
