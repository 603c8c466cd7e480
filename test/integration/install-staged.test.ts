import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { atomicWriteFile, isAlive, ourPid, portAccepts, startNutcracker } from '../../src/runtime/index.js';
import { renderNutcrackerYml, setServerAddresses } from '../../src/render/index.js';
import { lookupGroup } from '../../src/services/index.js';
import { proxyPaths } from '../../src/topology/index.js';
import { prepareStack, type TestStack } from '../support/stack.js';

// Ports 17100-17199 belong to this file. Only nutcracker runs: install-staged needs no backend, and
// nutcracker listens whether or not its servers answer.
const BASE = 17100;
const a = (p: number) => `127.0.0.1:${BASE + p}`;

describe('proxy install-staged (the privileged half of staging mode), restarting by pid file', () => {
  let s: TestStack;
  let conf: string;
  let staging: string;
  const pid = () => ourPid(proxyPaths(s.topo.stateDir).pid, s.topo.stateDir);
  const live = () => readFileSync(conf, 'utf8');
  const stage = (text: string) => atomicWriteFile(staging, text, { mode: 0o640 });
  const redisGroup = lookupGroup('redis');

  beforeAll(async () => {
    s = prepareStack(BASE, { agent: { apply: 'staging' } });
    conf = proxyPaths(s.topo.stateDir).conf;
    staging = s.topo.stagingFile;
    atomicWriteFile(conf, renderNutcrackerYml(s.topo, { s1: a(0), s2: a(10) }, null));
    await startNutcracker(s.topo);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('installs a staged move of a shard to another of its instances, with owner and mode, and restarts nutcracker', async () => {
    const before = pid()!;
    const text = setServerAddresses(live(), 'redis-shard', { s1: a(1) });
    stage(text);
    const args = ['proxy', 'install-staged', '--restart', 'pidfile', ...(redisGroup !== null ? ['--group', 'redis'] : [])];
    const r = await s.cli(args);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`installed .*s1 -> 127\\.0\\.0\\.1:${BASE + 1}, s2 -> 127\\.0\\.0\\.1:${BASE + 10}`));
    expect(r.stdout).toMatch(new RegExp(`restarted nutcracker \\(pid ${before} -> \\d+\\)`));
    expect(live()).toBe(text);
    const st = statSync(conf);
    expect(st.mode & 0o777).toBe(0o640);
    if (redisGroup !== null && process.getuid?.() === 0) expect(st.gid).toBe(redisGroup);
    expect(isAlive(before)).toBe(false);
    expect(pid()).not.toBeNull();
    expect(pid()).not.toBe(before);
    expect(await portAccepts('127.0.0.1', BASE + 30)).toBe(true);
  });

  it('an unchanged staging file installs nothing and restarts nothing', async () => {
    const before = pid();
    const r = await s.cli(['proxy', 'install-staged', '--restart', 'pidfile']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/nothing to install/);
    expect(pid()).toBe(before);
  });

  const refused = async (staged: string | null, why: RegExp) => {
    const before = pid()!;
    const kept = live();
    if (staged !== null) stage(staged);
    const r = await s.cli(['proxy', 'install-staged', '--restart', 'pidfile']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(why);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(live()).toBe(kept);
    expect(pid()).toBe(before);
    expect(isAlive(before)).toBe(true);
  };

  it('refuses a file that is not a nutcracker config; the running config is kept', async () => {
    await refused('this: [is not, a pool\n', /nutcracker\.staged\.yml: not a nutcracker config .*refused, the running config is kept/);
  });

  it('refuses an address that is not an instance of the shard', async () => {
    await refused(setServerAddresses(live(), 'redis-shard', { s2: '10.0.0.66:6379' }), /shard s2 points at 10\.0\.0\.66:6379, which is not one of its instances/);
    await refused(setServerAddresses(live(), 'redis-shard', { s2: a(0) }), /shard s2 points at 127\.0\.0\.1:17100, which is not one of its instances/);
  });

  it('refuses any change beyond server addresses (here: listening on every interface)', async () => {
    await refused(live().replace(`listen: ${a(30)}`, `listen: 0.0.0.0:${BASE + 30}`), /changes more than server addresses/);
  });

  it('refuses what nutcracker -t rejects, even when only an address changed', async () => {
    // A hand edit nutcracker rejects, in the live file (the running process read its config at start).
    const good = live();
    const bad = good.replace('  redis: true\n', '  redis: true\n  no_such_key: 1\n');
    atomicWriteFile(conf, bad, { mode: 0o640 });
    try {
      await refused(setServerAddresses(bad, 'redis-shard', { s2: a(11) }), /nutcracker -t rejects the staged config: syntax is invalid .*refused, the running config is kept/);
    } finally {
      atomicWriteFile(conf, good, { mode: 0o640 });
    }
  });

  it('refuses a symbolic link (it runs as root; the staging file is the agent\'s)', async () => {
    const target = join(s.dir, 'elsewhere.yml');
    writeFileSync(target, setServerAddresses(live(), 'redis-shard', { s2: a(12) }));
    rmSync(staging, { force: true });
    symlinkSync(target, staging);
    try {
      await refused(null, /is a symbolic link; refused/);
    } finally {
      rmSync(staging, { force: true });
    }
  });

  it('says so when nothing is staged', async () => {
    await refused(null, /nutcracker\.staged\.yml: nothing is staged/);
  });

  it('--restart none installs without touching the process', async () => {
    const before = pid();
    const text = setServerAddresses(live(), 'redis-shard', { s2: a(12) });
    stage(text);
    const r = await s.cli(['proxy', 'install-staged', '--restart', 'none']);
    expect(r.code).toBe(0);
    expect(live()).toBe(text);
    expect(pid()).toBe(before);
  });

  it('a config holding redis_auth is installed 0600 and the secret is never printed', async () => {
    const secret = 'Staged-Secret-7';
    const withAuth = renderNutcrackerYml(s.topo, { s1: a(1), s2: a(12) }, secret);
    atomicWriteFile(conf, withAuth, { mode: 0o600 });
    const text = setServerAddresses(withAuth, 'redis-shard', { s1: a(2) });
    atomicWriteFile(staging, text, { mode: 0o600 });
    const r = await s.cli(['proxy', 'install-staged', '--restart', 'pidfile', '--force']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(live()).toBe(text);
    expect(statSync(conf).mode & 0o777).toBe(0o600);
    expect(r.stdout).not.toContain(secret);
    expect(await portAccepts('127.0.0.1', BASE + 30)).toBe(true);
  });

  it('an unknown --restart value is a usage error', async () => {
    const r = await s.cli(['proxy', 'install-staged', '--restart', 'reboot']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/argument 'reboot' is invalid/);
  });
});
