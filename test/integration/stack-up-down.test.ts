import { parseRoleReply } from '../../src/engine/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type Server } from 'node:net';
import { isAlive, ourPid, redisClient } from '../../src/runtime/index.js';
import { agentPaths, haproxyPaths, proxyPaths, redisPaths, sentinelPaths } from '../../src/topology/index.js';
import { prepareStack, runCli, type TestStack } from '../support/stack.js';

// Ports 20000-20099 belong to this file (below the kernel's ephemeral range, 32768-60999).
const BASE = 20000;

describe('up / down through the CLI', () => {
  let s: TestStack;
  beforeAll(() => {
    s = prepareStack(BASE);
  });
  afterAll(async () => {
    await s?.stop();
  });

  const allPidFiles = () => [
    ...s.topo.shards.flatMap((sh) => sh.instances).map((a) => redisPaths(s.topo.stateDir, a).pid),
    ...s.topo.sentinel.instances.map((a) => sentinelPaths(s.topo.stateDir, a).pid),
    proxyPaths(s.topo.stateDir).pid,
    agentPaths(s.topo.stateDir).supervisorPid,
    haproxyPaths(s.topo.stateDir).pid,
  ];
  // 6 instances, 3 sentinels, nutcracker, the agent's supervisor, and HAProxy (the default apply mode, haproxy).
  const ALL = 12;

  it('brings up 6 instances, 3 sentinels and the proxy, and the proxy serves SET/GET', async () => {
    const r = await s.cli(['up', '--timeout', '60']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`ready: started ${ALL} processes`));
    for (const f of allPidFiles()) expect(ourPid(f, s.topo.stateDir), f).not.toBeNull();
    const c = redisClient(s.topo.proxy.listen, null);
    try {
      expect(await c.set('hello', 'world')).toBe('OK');
      expect(await c.get('hello')).toBe('world');
    } finally {
      c.disconnect();
    }
    // nutcracker's server lines keep the shard names (the ring) and point at HAProxy's frontends (derived: the
    // first free ports from proxy.listen's + 10); HAProxy's backends point at the masters.
    const conf = readFileSync(proxyPaths(s.topo.stateDir).conf, 'utf8');
    expect(conf).toContain(`- 127.0.0.1:${BASE + 40}:1 s1`);
    expect(conf).toContain(`- 127.0.0.1:${BASE + 41}:1 s2`);
    const hcfg = readFileSync(haproxyPaths(s.topo.stateDir).conf, 'utf8');
    expect(hcfg).toMatch(new RegExp(`backend be_s1\\n    server s1 127\\.0\\.0\\.1:${BASE}\\n`));
    expect(hcfg).toMatch(new RegExp(`backend be_s2\\n    server s2 127\\.0\\.0\\.1:${BASE + 10}\\n`));
    expect((statSync(haproxyPaths(s.topo.stateDir).socket).mode & 0o777).toString(8)).toBe('600');
  });

  it('a second up starts nothing and leaves the same processes', async () => {
    const before = allPidFiles().map((f) => ourPid(f, s.topo.stateDir));
    const r = await s.cli(['up']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/nothing to start/);
    expect(allPidFiles().map((f) => ourPid(f, s.topo.stateDir))).toEqual(before);
  });

  it('up after one instance died starts only that one, as a replica', async () => {
    const addr = `127.0.0.1:${BASE + 2}`;
    const pid = ourPid(redisPaths(s.topo.stateDir, addr).pid, s.topo.stateDir)!;
    process.kill(pid, 'SIGKILL');
    const r = await s.cli(['up']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/started redis 127\.0\.0\.1:20002/);
    expect(r.stdout).toMatch(new RegExp(`started 1 processes, ${ALL - 1} were already running`));
    const c = redisClient(addr, null);
    try {
      expect(parseRoleReply(await c.call('ROLE'))).toMatchObject({ role: 'slave', master: `127.0.0.1:${BASE}` });
    } finally {
      c.disconnect();
    }
  });

  it('down stops every process and leaves none of this state dir running', async () => {
    const pids = allPidFiles().map((f) => ourPid(f, s.topo.stateDir)!);
    const r = await s.cli(['down']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`stopped ${ALL} processes`));
    for (const pid of pids) expect(isAlive(pid), `pid ${pid}`).toBe(false);
    const again = await s.cli(['down']);
    expect(again.stdout).toMatch(/nothing was running/);
  });
});

describe('bad input starts nothing', () => {
  it('an invalid description names the file and the field', async () => {
    const s = prepareStack(BASE + 40);
    try {
      writeFileSync(s.file, readFileSync(s.file, 'utf8').replace('quorum: 2', 'quorum: 7'));
      const r = await s.cli(['up']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(s.file);
      expect(r.stderr).toMatch(/sentinel\.quorum: 7 is more than the 3 sentinels/);
    } finally {
      await s.stop();
    }
  });

  it('malformed YAML is reported with the file name', async () => {
    const s = prepareStack(BASE + 40);
    try {
      writeFileSync(s.file, 'shards: [\n  - name: s1\n');
      const r = await s.cli(['up']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/redis-shard\.yml: not valid YAML/);
    } finally {
      await s.stop();
    }
  });

  it('a port held by a stranger is named, and nothing is left started', async () => {
    const s = prepareStack(BASE + 40);
    const stranger: Server = createServer();
    await new Promise<void>((r) => stranger.listen(BASE + 40 + 21, '127.0.0.1', r));
    try {
      const r = await s.cli(['up']);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain(`127.0.0.1:${BASE + 61} (sentinel)`);
      const pidFile = redisPaths(s.topo.stateDir, `127.0.0.1:${BASE + 40}`).pid;
      expect(ourPid(pidFile, s.topo.stateDir)).toBeNull();
    } finally {
      stranger.close();
      await s.stop();
    }
  });

  it('a state dir that cannot be written is named', async () => {
    // Root may write anywhere, so "not writable" is made with a path that runs through a regular file.
    const s = prepareStack(BASE + 40, { stateDir: 'not-a-dir/state' });
    writeFileSync(join(s.dir, 'not-a-dir'), 'a file, not a folder\n');
    try {
      const r = await s.cli(['up']);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/state dir .*not-a-dir\/state: .*not-a-dir is a file, not a folder/);
    } finally {
      await s.stop();
    }
  });

  it('an unknown command or flag gets usage and a non-zero exit', async () => {
    const r1 = await runCli(['frobnicate']);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toMatch(/unknown command 'frobnicate'/);
    const r2 = await runCli(['up', '--bogus']);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/unknown option '--bogus'/);
  });

  it('a missing --config file is named', async () => {
    const r = await runCli(['-c', join('/nonexistent', 'x.yml'), 'up']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\/nonexistent\/x\.yml: no such file/);
  });
});
