import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lookupAccount } from '../../src/services/index.js';
import { CLI, runCli } from '../support/stack.js';

// Ports 24100-24131 belong to this file; nothing listens on them (services install starts nothing: it only asks
// the sentinels, which do not answer, for the current masters).
const PORTS: Record<string, number> = { 6666: 24100, 6667: 24101, 6668: 24102, 7666: 24110, 7667: 24111, 7668: 24112, 26379: 24120, 26380: 24121, 26381: 24122, 22121: 24130, 22222: 24131 };
const onOurPorts = (text: string) => text.replace(/127\.0\.0\.1:(\d+)/g, (m, p: string) => (PORTS[p] ? `127.0.0.1:${PORTS[p]}` : m));
const user = lookupAccount('redis') ? 'redis' : 'nobody';

describe('from init to services install', () => {
  // Not under /tmp: the services' PrivateTmp hides it, and that is one of the preconditions.
  let dir: string;
  let tmp: string;
  beforeAll(() => {
    dir = mkdtempSync('/var/lib/redis-shard-i10-');
    chmodSync(dir, 0o755);
    tmp = mkdtempSync(join(tmpdir(), 'redis-shard-pre-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  });

  it('init then services install, as a new user tries it: every precondition in one report, each with its fix; nothing written', async () => {
    const file = join(tmp, 'redis-shard.yml');
    expect((await runCli(['init', file])).code).toBe(0);
    writeFileSync(file, onOurPorts(readFileSync(file, 'utf8')));
    const dest = join(tmp, 'no-such-dest');
    const r = await runCli(['-c', file, 'services', 'install', '--dest', dest, '--user', 'no-such-user-i10'], { cwd: tmp });
    expect(r.code).toBe(2);
    const err = r.stderr;
    expect(err).toMatch(/services install: \d+ things to fix first \(nothing was installed\)/);
    expect(err).toMatch(/stateDir .*: is under a temporary folder.*use e\.g\. \/var\/lib\/redis-shard/);
    expect(err).toMatch(/the description .*: is under a temporary folder/);
    expect(err).toMatch(/--user no-such-user-i10: no such user; create it with: useradd/);
    expect(err).toMatch(/--dest .*no-such-dest: not a writable folder \(ENOENT\)/);
    // One numbered line per problem.
    // The default apply mode (haproxy) suits systemd: no complaint about it.
    expect(err).not.toMatch(/agent\.apply is/);
    expect(err.split('\n').filter((l) => /^\s+\d+\. /.test(l)).length).toBeGreaterThanOrEqual(4);
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(join(tmp, '.redis-shard'))).toBe(false);
    // A description that keeps supervise mode is told which modes work under systemd, in the same one report.
    writeFileSync(file, readFileSync(file, 'utf8').replace(/^ {2}apply: haproxy/m, '  apply: supervise'));
    const sup = await runCli(['-c', file, 'services', 'install', '--dest', dest, '--user', 'no-such-user-i10'], { cwd: tmp });
    expect(sup.code).toBe(2);
    expect(sup.stderr).toMatch(/agent\.apply is "supervise".*agent\.apply: haproxy.*agent\.apply: staging/);
    expect(sup.stderr).toMatch(/--user no-such-user-i10: no such user/);
    expect(existsSync(dest)).toBe(false);
  });

  it('init --services writes a description ready for services: install succeeds in one step', async () => {
    const file = join(dir, 'redis-shard.yml');
    const stateDir = join(dir, 'state');
    const init = await runCli(['init', '--services', '--state-dir', stateDir, file]);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toMatch(/next: redis-shard -c .* services install/);
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(new RegExp(`^stateDir: ${stateDir}$`, 'm'));
    expect(text).toMatch(/^ {2}apply: haproxy/m);
    writeFileSync(file, onOurPorts(text));
    const dest = mkdtempSync(join(tmp, 'units-'));
    // The units run the CLI, which PrivateTmp would hide when this checkout lives under /tmp: a link stands in.
    const cli = join(dir, 'redis-shard');
    symlinkSync(CLI, cli);
    const r = await runCli(['-c', file, 'services', 'install', '--dest', dest, '--user', user, '--cli', cli], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(dest)).toContain('redis-shard.target');
    expect(existsSync(join(stateDir, 'proxy', 'nutcracker.yml'))).toBe(true);
  });

  it('init --services refuses a place the services cannot see, and changes nothing', async () => {
    const file = join(tmp, 'svc.yml');
    const r = await runCli(['init', '--services', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/svc\.yml: is under a temporary folder, which the services' PrivateTmp hides/);
    expect(existsSync(file)).toBe(false);
    const bad = await runCli(['init', '--services', '--state-dir', '/tmp/x', join(dir, 'other.yml')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--state-dir "\/tmp\/x": expected an absolute path outside \/tmp/);
    expect(existsSync(join(dir, 'other.yml'))).toBe(false);
  });
});
