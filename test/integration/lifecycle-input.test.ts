import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { CLI, runCli, testDescription, type CliResult } from '../support/stack.js';

// Ports 23300-23399 belong to this file (helper i9's range); nothing here gets as far as starting an engine.
const dir = mkdtempSync(join(tmpdir(), 'redis-shard-test-23300-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function describe_(name: string, overrides: Record<string, unknown>): string {
  const file = join(dir, `${name}.yml`);
  writeFileSync(file, stringify({ ...testDescription(23300), ...overrides }));
  return file;
}

/** The CLI inside fresh mount and network namespaces: its own read-only mount, and no way off this machine. */
function inNamespaces(script: string, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile('unshare', ['-m', '-n', 'sh', '-c', script, 'sh', process.execPath, CLI, ...args], { timeout: 30_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

describe('up refuses at once what it cannot do, and says why', () => {
  it('stateDir under /proc/sys: exit 3 at once, not a loop at 100% CPU', async () => {
    const file = describe_('proc', { stateDir: '/proc/sys/rs' });
    const t0 = Date.now();
    const r = await runCli(['-c', file, 'up'], { cwd: dir, timeoutMs: 20_000 });
    expect(r.code, r.stderr).toBe(3);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r.stderr).toMatch(/state dir \/proc\/sys\/rs: cannot create \/proc\/sys\/rs: .*does not take new folders/);
  });

  it('stateDir that is a file: says so, not EEXIST', async () => {
    writeFileSync(join(dir, 'a-file'), 'x');
    const file = describe_('file', { stateDir: 'a-file' });
    const r = await runCli(['-c', file, 'up'], { cwd: dir, timeoutMs: 20_000 });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/a-file: is a file, not a folder/);
    expect(r.stderr).not.toMatch(/EEXIST/);
  });

  it('stateDir on a read-only mount: says read-only, not ENOENT', async () => {
    const ro = join(dir, 'ro');
    mkdirSync(ro);
    const file = describe_('ro', { stateDir: join(ro, 'state') });
    const r = await inNamespaces(`mount -t tmpfs -o ro none '${ro}' && exec "$@"`, ['-c', file, 'up']);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/read-only file system \(EROFS\)/);
    expect(r.stderr).not.toMatch(/ENOENT/);
  });

  it('a description with no address on this host: exit 2, saying so', async () => {
    // Documentation addresses (TEST-NET-1); run without a network, so not even a refused packet leaves.
    const a = (p: number) => `192.0.2.1:${p}`;
    const file = describe_('elsewhere', {
      shards: [{ name: 's1', master: a(1), instances: [a(1), a(2)] }],
      sentinel: { instances: [a(3), a(4), a(5)], quorum: 2 },
      proxy: { listen: a(6), stats: a(7) },
    });
    const r = await inNamespaces('exec "$@"', ['-c', file, 'up']);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(/none of the addresses in .*elsewhere\.yml is on this host \(its hosts: 192\.0\.2\.1\)/);
  });
});
