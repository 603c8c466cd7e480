import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ourPid, withClient, waitFor } from '../../src/runtime/index.js';
import { redisPaths } from '../../src/topology/index.js';
import { upStack, type TestStack } from '../support/stack.js';

// Ports 23500-23599 belong to this file (helper i9's range).
const BASE = 23500;

async function role(addr: string): Promise<string> {
  return withClient(addr, null, async (c) => {
    const r = (await c.call('ROLE')) as unknown[];
    return r[0] === 'master' ? 'master' : `slave of ${String(r[1])}:${String(r[2])}`;
  }, { timeoutMs: 1000 }).catch(() => 'down');
}

async function sentinelsSay(s: TestStack, shard: string): Promise<string[]> {
  return Promise.all(
    s.topo.sentinel.instances.map((a) =>
      withClient(a, null, async (c) => {
        const r = (await c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', shard)) as string[];
        return `${r[0]}:${r[1]}`;
      }, { timeoutMs: 500 }).catch(() => 'no answer'),
    ),
  );
}

describe('a full restart after a failover keeps the master Sentinel elected', () => {
  let s: TestStack;
  beforeAll(async () => {
    s = await upStack(BASE);
  }, 120_000);
  afterAll(async () => {
    await s?.stop();
  });

  it('kill -9 master, failover, up, down, up: the old master comes back as a replica, and ready means one master', async () => {
    const shard = s.topo.shards[0]!;
    const old = shard.master;
    process.kill(ourPid(redisPaths(s.topo.stateDir, old).pid, s.topo.stateDir)!, 'SIGKILL');
    const elected = await waitFor(
      async () => {
        const say = await sentinelsSay(s, shard.name);
        return say.every((m) => m === say[0] && m !== old && shard.instances.includes(m)) ? say[0] : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: 'the sentinels to agree on a new master' },
    );
    expect((await s.cli(['up', '--timeout', '60'])).code).toBe(0);
    expect(await role(old)).toBe(`slave of ${elected}`);
    expect((await s.cli(['down'])).code).toBe(0);

    const r = await s.cli(['up', '--timeout', '60']);
    expect(r.code, r.stderr).toBe(0);
    // Right when up says ready: one master in the shard, the elected one.
    const roles = await Promise.all(shard.instances.map(async (a) => `${a}: ${await role(a)}`));
    expect(roles.filter((x) => x.endsWith(': master'))).toEqual([`${elected}: master`]);
    expect(await role(old)).toBe(`slave of ${elected}`);
  }, 150_000);
});
