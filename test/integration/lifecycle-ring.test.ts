import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ourPid, redisClient, waitFor } from '../../src/runtime/index.js';
import { readPoolServers as poolServers } from '../../src/render/index.js';
import { proxyPaths, redisPaths } from '../../src/topology/index.js';
import { upStack, type TestStack } from '../support/stack.js';

// Ports 23400-23499 belong to this file (helper i9's range).
const BASE = 23400;

describe('a nutcracker.yml that parses but moves keys to other shards is never applied', () => {
  let s: TestStack;
  beforeAll(async () => {
    s = await upStack(BASE);
  }, 120_000);
  afterAll(async () => {
    await s?.stop();
  });

  const names = () => poolServers(readFileSync(proxyPaths(s.topo.stateDir).conf, 'utf8'), s.topo.proxy.name).map((x) => x.name).sort();

  it('renamed shard + proxy killed: the agent restores the last good config and restarts the proxy', async () => {
    const conf = proxyPaths(s.topo.stateDir).conf;
    const c = redisClient(s.topo.proxy.listen, null);
    try {
      for (let i = 0; i < 200; i++) await c.set(`ring:${i}`, String(i));
    } finally {
      c.disconnect();
    }
    const good = readFileSync(conf, 'utf8');
    writeFileSync(conf, good.replace(/ s1\n/, ' s9\n'));
    const pid = ourPid(proxyPaths(s.topo.stateDir).pid, s.topo.stateDir)!;
    process.kill(pid, 'SIGKILL');
    await waitFor(
      async () => {
        const now = ourPid(proxyPaths(s.topo.stateDir).pid, s.topo.stateDir);
        return now !== null && now !== pid && names().join() === 's1,s2';
      },
      { timeoutMs: 20_000, intervalMs: 50, what: `the agent to restore ${conf} and restart nutcracker` },
    );
    expect(readFileSync(conf, 'utf8')).toBe(good);
    // The rejected edit is kept beside it for whoever made it.
    expect(readFileSync(`${conf}.rejected`, 'utf8')).toMatch(/ s9\n/);
    const c2 = redisClient(s.topo.proxy.listen, null);
    try {
      await waitFor(async () => (await c2.get('ring:0').catch(() => null)) === '0', { timeoutMs: 10_000, what: 'the proxy to serve' });
      for (let i = 0; i < 200; i++) expect(await c2.get(`ring:${i}`)).toBe(String(i));
    } finally {
      c2.disconnect();
    }
    const events = readFileSync(`${s.topo.stateDir}/agent/events.jsonl`, 'utf8');
    expect(events).toMatch(/changes which shard keys land on.*no server named \\?"s1\\?"/);
  }, 60_000);

  it('up refuses to start a proxy on such a config, says why, and starts nothing', async () => {
    const down = await s.cli(['down']);
    expect(down.code).toBe(0);
    const conf = proxyPaths(s.topo.stateDir).conf;
    writeFileSync(conf, readFileSync(conf, 'utf8').replace('hash: fnv1a_64', 'hash: murmur'));
    const r = await s.cli(['up', '--timeout', '60']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/nutcracker\.yml: it would place keys on other shards than the description: hash is "murmur" but the description's proxy\.hash is "fnv1a_64"/);
    expect(r.stdout).not.toMatch(/started/);
    for (const a of s.topo.shards.flatMap((x) => x.instances)) expect(ourPid(redisPaths(s.topo.stateDir, a).pid, s.topo.stateDir)).toBeNull();
    expect(existsSync(conf)).toBe(true);
  }, 60_000);
});
