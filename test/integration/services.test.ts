import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { installServices, lookupAccount } from '../../src/services/index.js';
import { proxyPaths, redisPaths, sentinelPaths } from '../../src/topology/index.js';
import { loadTopology } from '../../src/topology/index.js';
import { CLI, runCli, testDescription, type CliResult } from '../support/stack.js';

// Ports 17400-17499 belong to this file (nothing listens on them: services install starts nothing, it only
// asks the sentinels, which do not answer, for the current masters).
const BASE = 17400;
const SECRET = 'Svc-Secret-913';

/**
 * The services' PrivateTmp hides /tmp from them, so install refuses a state dir there; this test's state lives
 * in a folder of its own under /var/lib, removed afterwards. The unit files may go anywhere (--dest).
 */
function makeDeployment(): { dir: string; file: string; dest: string; cli: string } {
  const dir = mkdtempSync('/var/lib/redis-shard-test-');
  // The services' user must be able to pass through every folder above the state dir.
  chmodSync(dir, 0o755);
  const file = join(dir, 'redis-shard.yml');
  writeFileSync(join(dir, 'password'), `${SECRET}\n`, { mode: 0o600 });
  writeFileSync(file, stringify(testDescription(BASE, { stateDir: join(dir, 'state'), agent: { apply: 'staging' }, auth: { passwordFile: 'password' } })));
  const dest = mkdtempSync(join(tmpdir(), 'redis-shard-units-'));
  // The units run the CLI, which PrivateTmp would hide when this checkout lives under /tmp (CI's may):
  // a link beside the state dir stands for an installed redis-shard.
  const cli = join(dir, 'redis-shard');
  symlinkSync(CLI, cli);
  return { dir, file, dest, cli };
}

/** `services install` runs the CLI through the link (see makeDeployment). */
function withCli(args: string[], cli: string): string[] {
  return args[0] === 'services' && args[1] === 'install' ? [...args, '--cli', cli] : args;
}

function verify(dest: string, units: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('systemd-analyze', ['verify', '--man=no', ...units.map((u) => join(dest, u))], { cwd: dest }, (err, _out, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr: String(stderr) }),
    );
  });
}

const user = lookupAccount('redis') ? 'redis' : 'nobody';
const isRoot = process.getuid?.() === 0;

describe('services install / uninstall', () => {
  let d: ReturnType<typeof makeDeployment>;
  let install: CliResult;
  const cli = (args: string[]) => runCli(['-c', d.file, ...withCli(args, d.cli)], { cwd: d.dir });

  beforeAll(async () => {
    d = makeDeployment();
    install = await cli(['services', 'install', '--dest', d.dest, '--user', user]);
  });
  afterAll(() => {
    rmSync(d.dir, { recursive: true, force: true });
    rmSync(d.dest, { recursive: true, force: true });
  });

  it('writes the seven unit files and renders the configs up would', () => {
    expect(install.stderr).toBe('');
    expect(install.code).toBe(0);
    expect(readdirSync(d.dest).sort()).toEqual([
      'redis-shard-agent.service',
      'redis-shard-proxy-install.path',
      'redis-shard-proxy-install.service',
      'redis-shard-proxy.service',
      'redis-shard-redis@.service',
      'redis-shard-sentinel@.service',
      'redis-shard.target',
    ]);
    const topo = loadTopology({ config: d.file });
    for (const a of topo.shards.flatMap((s) => s.instances)) expect(existsSync(redisPaths(topo.stateDir, a).conf), a).toBe(true);
    for (const a of topo.sentinel.instances) expect(existsSync(sentinelPaths(topo.stateDir, a).conf), a).toBe(true);
    expect(readFileSync(topo.stagingFile, 'utf8')).toBe(readFileSync(proxyPaths(topo.stateDir).conf, 'utf8'));
    expect(install.stdout).toMatch(/systemctl daemon-reload && systemctl enable --now redis-shard\.target/);
    expect(install.stdout).not.toContain(SECRET);
  });

  it('every unit passes systemd-analyze verify, instances included, with nothing to say', async () => {
    const topo = loadTopology({ config: d.file });
    const slug = (a: string) => a.replace(':', '_');
    const r = await verify(d.dest, [
      'redis-shard.target',
      `redis-shard-redis@${slug(topo.shards[0]!.instances[1]!)}.service`,
      `redis-shard-sentinel@${slug(topo.sentinel.instances[0]!)}.service`,
      'redis-shard-proxy.service',
      'redis-shard-agent.service',
      'redis-shard-proxy-install.path',
      'redis-shard-proxy-install.service',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('units carry the user, hardening and real paths, and no secret', () => {
    for (const name of readdirSync(d.dest)) {
      const text = readFileSync(join(d.dest, name), 'utf8');
      expect(text, name).not.toContain(SECRET);
      expect(statSync(join(d.dest, name)).mode & 0o777, name).toBe(0o644);
      if (!name.endsWith('.service')) continue;
      expect(text, name).toMatch(/^NoNewPrivileges=yes$/m);
      expect(text, name).toMatch(/^ProtectSystem=strict$/m);
      expect(text, name).toMatch(/^PrivateTmp=yes$/m);
      expect(text, name).toMatch(new RegExp(`^ReadWritePaths=${d.dir}/state/`, 'm'));
      if (name === 'redis-shard-proxy-install.service') expect(text).not.toMatch(/^User=/m);
      else expect(text, name).toMatch(new RegExp(`^User=${user}$`, 'm'));
      for (const m of text.matchAll(/^ExecStart=(\S+)/gm)) expect(existsSync(m[1]!), m[1]).toBe(true);
    }
  });

  it.runIf(isRoot)('the state dir is the services\' user\'s, except the live proxy config, which is root\'s and private', () => {
    const topo = loadTopology({ config: d.file });
    const acct = lookupAccount(user)!;
    const r0 = redisPaths(topo.stateDir, topo.shards[0]!.instances[0]!);
    expect(statSync(r0.dir).uid).toBe(acct.uid);
    expect(statSync(r0.dir).mode & 0o777).toBe(0o700);
    expect(statSync(r0.conf).mode & 0o777).toBe(0o600);
    const p = proxyPaths(topo.stateDir);
    expect(statSync(p.dir).mode & 0o7777).toBe(0o1770);
    expect(statSync(p.conf).uid).toBe(0);
    expect(statSync(p.conf).mode & 0o777).toBe(0o600);
    expect(statSync(topo.stagingFile).uid).toBe(acct.uid);
  });

  it.runIf(isRoot)('as the services\' user, the agent can replace its staging file but not the live proxy config', () => {
    const topo = loadTopology({ config: d.file });
    const acct = lookupAccount(user)!;
    const p = proxyPaths(topo.stateDir);
    // rename(2) onto each target from a file the user creates in the same (sticky) folder.
    const script = `
      const fs = require('node:fs');
      const out = {};
      for (const [k, target] of Object.entries({ staging: ${JSON.stringify(topo.stagingFile)}, live: ${JSON.stringify(p.conf)} })) {
        const tmp = ${JSON.stringify(p.dir)} + '/.probe-' + k;
        try { fs.writeFileSync(tmp, 'x'); fs.renameSync(tmp, target); out[k] = 'ok'; } catch (e) { out[k] = e.code; try { fs.unlinkSync(tmp); } catch {} }
      }
      try { fs.writeFileSync(${JSON.stringify(p.conf)}, 'x'); out.write = 'ok'; } catch (e) { out.write = e.code; }
      try { fs.readFileSync(${JSON.stringify(p.conf)}); out.read = 'ok'; } catch (e) { out.read = e.code; }
      process.stdout.write(JSON.stringify(out));`;
    const before = readFileSync(p.conf, 'utf8');
    const staged = readFileSync(topo.stagingFile, 'utf8');
    const r = spawnSync(process.execPath, ['-e', script], { uid: acct.uid, gid: acct.gid, encoding: 'utf8' });
    expect(JSON.parse(r.stdout)).toEqual({ staging: 'ok', live: 'EPERM', write: 'EACCES', read: 'EACCES' });
    expect(readFileSync(p.conf, 'utf8')).toBe(before);
    writeFileSync(topo.stagingFile, staged);
  });

  it('a second install renders nothing again and rewrites the same units', async () => {
    const before = Object.fromEntries(readdirSync(d.dest).map((n) => [n, readFileSync(join(d.dest, n), 'utf8')]));
    const r = await cli(['services', 'install', '--dest', d.dest, '--user', user]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/rendered/);
    expect(Object.fromEntries(readdirSync(d.dest).map((n) => [n, readFileSync(join(d.dest, n), 'utf8')]))).toEqual(before);
  });

  it('uninstall removes only the files it wrote', async () => {
    writeFileSync(join(d.dest, 'someone-else.service'), '[Service]\nExecStart=/bin/true\n');
    const dry = await cli(['services', 'uninstall', '--dest', d.dest, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout.match(/would remove/g)).toHaveLength(7);
    expect(readdirSync(d.dest)).toHaveLength(8);
    const r = await cli(['services', 'uninstall', '--dest', d.dest]);
    expect(r.code).toBe(0);
    expect(readdirSync(d.dest)).toEqual(['someone-else.service']);
    expect(existsSync(join(d.dir, 'state'))).toBe(true);
  });
});

describe('services install: --dry-run and bad input change nothing', () => {
  let d: ReturnType<typeof makeDeployment>;
  const cli = (args: string[], env?: Record<string, string>) => runCli(['-c', d.file, ...withCli(args, d.cli)], { cwd: d.dir, env });
  const nothingWritten = () => {
    expect(readdirSync(d.dest)).toEqual([]);
    expect(existsSync(join(d.dir, 'state'))).toBe(false);
  };
  beforeAll(() => {
    d = makeDeployment();
  });
  afterAll(() => {
    rmSync(d.dir, { recursive: true, force: true });
    rmSync(d.dest, { recursive: true, force: true });
  });

  it('--dry-run prints every unit and writes nothing', async () => {
    const r = await cli(['services', 'install', '--dest', d.dest, '--user', user, '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout.match(/^==> .* <==$/gm)).toHaveLength(7);
    expect(r.stdout).toContain('[Service]');
    expect(r.stdout).not.toContain(SECRET);
    nothingWritten();
  });

  const fails = async (args: string[], code: number, message: RegExp, env?: Record<string, string>) => {
    const r = await cli(['services', 'install', '--dest', d.dest, '--user', user, ...args], env);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toContain(SECRET);
    expect(r.code).toBe(code);
    nothingWritten();
  };

  it('a destination that is not a writable folder', async () => {
    const notDir = join(d.dest, 'file');
    writeFileSync(notDir, '');
    try {
      const r = await cli(['services', 'install', '--dest', join(notDir, 'sub'), '--user', user]);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/--dest .*file\/sub: not a writable folder \(ENOTDIR\).*nothing was installed/);
      expect(existsSync(join(d.dir, 'state'))).toBe(false);
    } finally {
      rmSync(notDir);
    }
  });

  it('a host name that matches nothing in the description', async () => {
    await fails(['--host', 'db9.example'], 2, /--host db9\.example: matches nothing in .*redis-shard\.yml \(its hosts: 127\.0\.0\.1\)/);
  });

  it('a missing password file', async () => {
    rmSync(join(d.dir, 'password'));
    try {
      await fails([], 2, /auth\.passwordFile: cannot read .*\/password: ENOENT/);
    } finally {
      writeFileSync(join(d.dir, 'password'), `${SECRET}\n`, { mode: 0o600 });
    }
  });

  it.runIf(isRoot)('a state dir the services\' user cannot reach', async () => {
    chmodSync(d.dir, 0o700);
    try {
      await fails([], 2, new RegExp(`stateDir .*: ${user} cannot pass through ${d.dir}; give it o\\+x`));
    } finally {
      chmodSync(d.dir, 0o755);
    }
  });

  it('a user that does not exist', async () => {
    const r = await cli(['services', 'install', '--dest', d.dest, '--user', 'no-such-user-rs']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--user no-such-user-rs: no such user; create it with: useradd --system/);
    nothingWritten();
  });

  it('a failure while writing the units undoes everything this install did', async () => {
    // In-process, so the temp file name (it carries our pid) can be blocked: the target is written last.
    const blocker = join(d.dest, `.redis-shard.target.${process.pid}.tmp`);
    mkdirSync(blocker);
    try {
      const topo = loadTopology({ config: d.file });
      await expect(installServices(topo, { dest: d.dest, user, bins: { cli: d.cli } })).rejects.toThrow(/services install failed \(EISDIR at .*\); everything it had written was undone/);
      expect(readdirSync(d.dest)).toEqual([`.redis-shard.target.${process.pid}.tmp`]);
      expect(existsSync(join(d.dir, 'state'))).toBe(false);
    } finally {
      rmSync(blocker, { recursive: true });
    }
  });

  it('a unit file of the same name that is not ours is left alone', async () => {
    mkdirSync(d.dest, { recursive: true });
    writeFileSync(join(d.dest, 'redis-shard-proxy.service'), '[Service]\nExecStart=/bin/true\n');
    try {
      const r = await cli(['services', 'install', '--dest', d.dest, '--user', user]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/redis-shard-proxy\.service: exists and was not written by redis-shard/);
      expect(readdirSync(d.dest)).toEqual(['redis-shard-proxy.service']);
      expect(existsSync(join(d.dir, 'state'))).toBe(false);
    } finally {
      rmSync(join(d.dest, 'redis-shard-proxy.service'));
    }
  });
});
