import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { withClient } from '../../src/runtime/index.js';
import { redisPaths, sentinelPaths } from '../../src/topology/index.js';
import { testDescription, upStack, type TestStack } from '../support/stack.js';

// Ports 23600-23699 belong to this file (helper i9's range).
const BASE = 23600;

describe('drift between the description and the running stack is reported, and the safe part applied live', () => {
  let s: TestStack;
  beforeAll(async () => {
    s = await upStack(BASE);
    // The operator edits the description of the running stack.
    const d = testDescription(BASE);
    writeFileSync(
      s.file,
      stringify({
        ...d,
        sentinel: { ...d.sentinel, downAfterMilliseconds: 1500 },
        proxy: { ...d.proxy, timeout: 3000 },
        shards: [{ ...d.shards[0]!, weight: 2 }, d.shards[1]!],
        redis: { minReplicasToWrite: 2 },
      }),
    );
  }, 120_000);
  afterAll(async () => {
    await s?.stop();
  });

  it('status and up name each drifted setting', async () => {
    const st = await s.cli(['status']);
    expect(st.stdout).toMatch(/drift: sentinel\.downAfterMilliseconds: description 1500, sentinel 127\.0\.0\.1:23620 \(s1\) has 1000/);
    expect(st.stdout).toMatch(/drift: redis\.minReplicasToWrite: description 2, redis 127\.0\.0\.1:23600 has 1/);
    expect(st.stdout).toMatch(/drift: proxy\.timeout: description 3000, .*nutcracker\.yml has 2000 \(needs a proxy restart/);
    expect(st.stdout).toMatch(/drift: key placement: .*nutcracker\.yml: server "s1" has weight 1 but the description's is 2 \(moves keys between shards/);
    const up = await s.cli(['up']);
    expect(up.code).toBe(0);
    expect(up.stdout).toMatch(/drift: sentinel\.downAfterMilliseconds/);
    expect(up.stdout).toMatch(/redis-shard drift --apply/);
  }, 60_000);

  it('drift --apply sets Sentinel and Redis live, persists them, and says what needs a restart', async () => {
    const r = await s.cli(['drift', '--apply']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/applied: sentinel\.downAfterMilliseconds = 1500 on sentinel 127\.0\.0\.1:23620 \(s1\)/);
    expect(r.stdout).toMatch(/applied: redis\.minReplicasToWrite = 2 on redis 127\.0\.0\.1:23612/);
    expect(r.stdout).toMatch(/needs a restart: proxy\.timeout/);
    expect(r.stdout).toMatch(/not applied: key placement: .*weight/);
    for (const a of s.topo.sentinel.instances) {
      const m = await withClient(a, null, (c) => c.call('SENTINEL', 'MASTER', 's2') as Promise<string[]>, { timeoutMs: 1000 });
      expect(m[m.indexOf('down-after-milliseconds') + 1]).toBe('1500');
      expect(readFileSync(sentinelPaths(s.topo.stateDir, a).conf, 'utf8')).toMatch(/sentinel down-after-milliseconds s2 1500/);
    }
    for (const a of s.topo.shards.flatMap((x) => x.instances)) {
      const v = await withClient(a, null, (c) => c.config('GET', 'min-replicas-to-write') as Promise<string[]>, { timeoutMs: 1000 });
      expect(v[1]).toBe('2');
      expect(readFileSync(redisPaths(s.topo.stateDir, a).conf, 'utf8')).toMatch(/min-replicas-to-write 2/);
    }
    const after = await s.cli(['drift']);
    expect(after.stdout).not.toMatch(/sentinel\.downAfterMilliseconds|redis\.minReplicasToWrite/);
    expect(after.stdout).toMatch(/proxy\.timeout/);
  }, 60_000);

  it('data check without --count checks the count data load used, and says so', async () => {
    // The description as the stack runs it again: data check judges placement by the description's ring.
    writeFileSync(s.file, stringify(testDescription(BASE)));
    const load = await s.cli(['data', 'load', '--count', '1500']);
    expect(load.code, load.stderr).toBe(0);
    const check = await s.cli(['data', 'check']);
    expect(check.code, check.stderr + check.stdout).toBe(0);
    expect(check.stdout).toMatch(/read 1500 keys/);
    expect(check.stderr).toMatch(/--count 1500: the count of the last data load/);
    expect((await s.cli(['data', 'check', '--count', '10'])).stdout).toMatch(/read 10 keys/);
  }, 60_000);
});
