import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ringForTopology } from '../../src/ops/locate.js';
import { proxyServers, roleOf } from '../../src/ops/failover-observe.js';
import { instancePid } from '../../src/ops/kill.js';
import type { Redis } from 'ioredis';
import { waitFor, withClient } from '../../src/runtime/index.js';
import { upStack, type TestStack } from '../support/stack.js';

// Ports 19000-19099 belong to this file.
const BASE = 19000;

/** A key the ring puts on shard `index`. */
function keyOnShard(s: TestStack, index: number, tag: string): string {
  const ring = ringForTopology(s.topo);
  for (let i = 0; ; i++) {
    const k = `hang:${tag}:${i}`;
    if (ring.locate(Buffer.from(k)) === index) return k;
  }
}

describe('a master that hangs (SIGSTOP) and comes back', () => {
  let s: TestStack;
  let stopped: number | null = null;
  beforeAll(async () => {
    s = await upStack(BASE);
  });
  afterAll(async () => {
    // A stopped process cannot act on SIGTERM: wake it before the teardown stops it.
    if (stopped !== null) {
      try {
        process.kill(stopped, 'SIGCONT');
      } catch {
        /* already gone */
      }
    }
    await s?.stop();
  });

  it('is failed over, the proxy follows, and once resumed it takes none of the writes meant for the new master', async () => {
    const old = s.topo.shards[0]!.master;
    const key = keyOnShard(s, 0, 'a');
    // A fresh connection per call: the agent restarts nutcracker on the switch, which drops every connection.
    const viaProxy = <T>(fn: (c: Redis) => Promise<T>) => withClient(s.topo.proxy.listen, null, fn, { timeoutMs: 300 });
    {
      expect(await viaProxy((c) => c.set(key, 'before'))).toBe('OK');
      stopped = instancePid(s.topo, old)!;
      process.kill(stopped, 'SIGSTOP');

      // Sentinel sees no PING reply, fails over; the agent moves the proxy; writes through it succeed again.
      const next = await waitFor(
        async () => {
          const to = (await proxyServers(s.topo)).s1;
          if (!to || to === old) return undefined;
          const r = await roleOf(to, null);
          return 'role' in r && r.role === 'master' ? to : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 50, what: 'the proxy to point s1 at a new master' },
      );
      await waitFor(() => viaProxy((c) => c.set(key, 'after-failover')).then((x) => x === 'OK', () => false), {
        timeoutMs: 10_000,
        intervalMs: 20,
        what: 'a write through the proxy to succeed',
      });

      process.kill(stopped, 'SIGCONT');
      stopped = null;
      // The first write straight to the resumed old master: its replicas have moved to the new master, so with
      // min-replicas-to-write 1 it must refuse (NOREPLICAS), or, once Sentinel has demoted it, READONLY.
      const direct = await withClient(old, null, (c) => c.set(key, 'stale-write').then(() => 'accepted', (e: Error) => e.message));
      expect(direct).toMatch(/NOREPLICAS|READONLY/);

      // Writes through the proxy keep landing on the new master, and Sentinel turns the old one into its replica.
      expect(await viaProxy((c) => c.set(key, 'after-resume'))).toBe('OK');
      await waitFor(
        async () => {
          const r = await roleOf(old, null);
          return 'role' in r && r.role === 'slave' && r.master === next;
        },
        { timeoutMs: 30_000, intervalMs: 100, what: `${old} to become a replica of ${next}` },
      );
      await waitFor(async () => (await withClient(old, null, (c) => c.get(key))) === 'after-resume', {
        timeoutMs: 10_000,
        what: 'the demoted master to hold the write made through the proxy',
      });
      expect(await viaProxy((c) => c.get(key))).toBe('after-resume');
      expect((await proxyServers(s.topo)).s1).toBe(next);
    }
  });
});
