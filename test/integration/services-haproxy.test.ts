import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { haproxyMaxconn } from '../../src/render/index.js';
import { lookupAccount } from '../../src/services/index.js';
import { haproxyPaths, loadTopology, proxyPaths } from '../../src/topology/index.js';
import { CLI, runCli, testDescription, type CliResult } from '../support/stack.js';

// Ports 29200-29299 belong to this file; nothing listens on them (services install starts nothing).
const BASE = 29200;

function verify(dest: string, units: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('systemd-analyze', ['verify', '--man=no', ...units.map((u) => join(dest, u))], { cwd: dest }, (err, _out, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr: String(stderr) }),
    );
  });
}

const user = lookupAccount('redis') ? 'redis' : 'nobody';

describe('services install in apply mode haproxy', () => {
  let dir: string;
  let dest: string;
  let file: string;
  let install: CliResult;

  beforeAll(async () => {
    // PrivateTmp would hide /tmp from the services: the state lives under /var/lib, as in services.test.ts.
    dir = mkdtempSync('/var/lib/redis-shard-test-');
    chmodSync(dir, 0o755);
    file = join(dir, 'redis-shard.yml');
    writeFileSync(file, stringify(testDescription(BASE, { stateDir: join(dir, 'state'), agent: { apply: 'haproxy' } })));
    dest = mkdtempSync(join(tmpdir(), 'redis-shard-units-'));
    const cli = join(dir, 'redis-shard');
    symlinkSync(CLI, cli);
    install = await runCli(['-c', file, 'services', 'install', '--dest', dest, '--user', user, '--cli', cli], { cwd: dir });
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(dest, { recursive: true, force: true });
  });

  it('writes HAProxy\'s unit beside nutcracker\'s and the agent\'s, and no staging installer', () => {
    expect(install.stderr).toBe('');
    expect(install.code).toBe(0);
    expect(readdirSync(dest).sort()).toEqual([
      'redis-shard-agent.service',
      'redis-shard-haproxy.service',
      'redis-shard-proxy.service',
      'redis-shard-redis@.service',
      'redis-shard-sentinel@.service',
      'redis-shard.target',
    ]);
  });

  it('renders haproxy.cfg (0600, maxconn for the unit\'s fd limit) on the masters and nutcracker.yml on the frontends', () => {
    const topo = loadTopology({ config: file });
    const h = haproxyPaths(topo.stateDir);
    const cfg = readFileSync(h.conf, 'utf8');
    expect(statSync(h.conf).mode & 0o777).toBe(0o600);
    expect(cfg).toContain(`maxconn ${haproxyMaxconn(65535)}`);
    expect(cfg).toContain(`stats socket ${h.socket} mode 600 level admin`);
    expect(cfg).toMatch(new RegExp(`server s1 127\\.0\\.0\\.1:${BASE}\\n`));
    const nut = readFileSync(proxyPaths(topo.stateDir).conf, 'utf8');
    expect(nut).toContain(`- 127.0.0.1:${BASE + 40}:1 s1`);
    expect(nut).toContain(`- 127.0.0.1:${BASE + 41}:1 s2`);
    if (process.getuid?.() === 0) {
      const owner = lookupAccount(user)!;
      expect(statSync(h.dir).uid).toBe(owner.uid);
      expect(statSync(h.dir).mode & 0o777).toBe(0o700);
    }
  });

  it('every unit passes systemd-analyze verify, with nothing to say', async () => {
    const topo = loadTopology({ config: file });
    const slug = (a: string) => a.replace(':', '_');
    const r = await verify(dest, [
      'redis-shard.target',
      `redis-shard-redis@${slug(topo.shards[0]!.instances[1]!)}.service`,
      `redis-shard-sentinel@${slug(topo.sentinel.instances[0]!)}.service`,
      'redis-shard-haproxy.service',
      'redis-shard-proxy.service',
      'redis-shard-agent.service',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('uninstall removes HAProxy\'s unit too', async () => {
    const r = await runCli(['-c', file, 'services', 'uninstall', '--dest', dest], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(dest)).toEqual([]);
  });
});
