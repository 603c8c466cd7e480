import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { redisClient, STATE_ENV } from '../../src/runtime/index.js';
import { sentinelPaths } from '../../src/topology/index.js';
import { prepareStack, runCli, type CliResult, type TestStack } from '../support/stack.js';

// Ports 17200-17299 belong to this file.
const BASE = 17200;
const SECRET = 'Auth-Test-Secret-5521';

function tailOf(path: string, n: number): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Files under `dir`, recursively. */
function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) out.push(...files(p));
    else if (st.isFile()) out.push(p);
  }
  return out;
}

/** Whether a user other than the owner (and its group) can read `path`: its mode, and every folder on the way. */
function othersCanRead(path: string, top: string): boolean {
  if ((statSync(path).mode & 0o004) === 0) return false;
  for (let d = join(path, '..'); d.startsWith(top); d = join(d, '..')) {
    if ((statSync(d).mode & 0o001) === 0) return false;
  }
  return true;
}

describe('a password-protected stack', () => {
  let s: TestStack;
  const outputs: Array<{ what: string; r: CliResult }> = [];
  const cli = async (args: string[], timeoutMs?: number) => {
    const r = await s.cli(args, { timeoutMs });
    outputs.push({ what: args.join(' '), r });
    return r;
  };
  const instances = () => s.topo.shards.flatMap((sh) => sh.instances);

  beforeAll(async () => {
    s = prepareStack(BASE, { auth: { passwordFile: 'password' } });
    writeFileSync(join(s.dir, 'password'), `${SECRET}\n`, { mode: 0o600 });
    const r = await cli(['up', '--timeout', '90']);
    if (r.code !== 0) throw new Error(`up failed (${r.code}): ${r.stderr}${r.stdout}`);
  });
  afterAll(async () => {
    await s?.stop();
  });

  const refused = async (addr: string, password: string | null, cmd: (c: ReturnType<typeof redisClient>) => Promise<unknown>) => {
    const c = redisClient(addr, password, { timeoutMs: 2000 });
    try {
      return await cmd(c).then(
        (v) => `accepted: ${String(v)}`,
        (e: Error) => e.message,
      );
    } finally {
      c.disconnect();
    }
  };

  it('without the password, the proxy and every instance and sentinel refuse', async () => {
    for (const a of instances()) expect(await refused(a, null, (c) => c.ping()), a).toMatch(/NOAUTH/);
    for (const a of s.topo.sentinel.instances) expect(await refused(a, null, (c) => c.ping()), a).toMatch(/NOAUTH/);
    expect(await refused(s.topo.proxy.listen, null, (c) => c.get('k'))).toMatch(/NOAUTH/);
  });

  it('with a wrong password, they refuse too', async () => {
    for (const a of [...instances(), ...s.topo.sentinel.instances]) {
      // ioredis sends AUTH on connect; after the server's WRONGPASS, the command itself gets NOAUTH.
      expect(await refused(a, 'not-the-password', (c) => c.ping()), a).toMatch(/NOAUTH|WRONGPASS|invalid password/i);
    }
    expect(await refused(s.topo.proxy.listen, 'not-the-password', (c) => c.get('k'))).toMatch(/invalid password|WRONGPASS|NOAUTH/i);
  });

  it('with it, the proxy serves', async () => {
    expect(await refused(s.topo.proxy.listen, SECRET, (c) => c.set('auth:k', 'v'))).toBe('accepted: OK');
  });

  it('data load and data check pass', async () => {
    const load = await cli(['data', 'load', '-n', '500']);
    expect(load.stderr).toBe('');
    expect(load.code).toBe(0);
    const check = await cli(['data', 'check', '-n', '500']);
    expect(check.stderr).toBe('');
    expect(check.code).toBe(0);
  });

  it('status sees every part healthy', async () => {
    const r = await cli(['status']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const j = await cli(['status', '--json']);
    expect(j.code).toBe(0);
  });

  it('the six failover cases pass', { timeout: 900_000 }, async () => {
    const r = await cli(['failover-test', '--yes', '--count', '500'], 880_000);
    if (r.code !== 0) {
      // What the sentinels saw, for whoever reads the failure.
      const logs = s.topo.sentinel.instances.map((a) => `--- ${a}\n${tailOf(sentinelPaths(s.topo.stateDir, a).log, 60)}`).join('\n');
      expect.fail(`failover-test exited ${r.code}\n${r.stdout}\n${r.stderr}\n${logs}`);
    }
  });

  // ioredis swallows a failed AUTH; runtime's openClient checks with PING so the refusal is named.
  it('the CLI says clearly when the password is wrong', async () => {
    writeFileSync(join(s.dir, 'wrong.yml'), readFileSync(s.file, 'utf8').replace('passwordFile: password', 'passwordFile: wrong-password'));
    writeFileSync(join(s.dir, 'wrong-password'), 'not-it\n', { mode: 0o600 });
    const r = await runCli(['-c', join(s.dir, 'wrong.yml'), 'data', 'check', '-n', '10'], { cwd: s.dir });
    outputs.push({ what: 'data check (wrong password)', r });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/password/i);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('the password is in no log, no output, no command line, and in no file others can read', () => {
    const top = s.topo.stateDir;
    const holders: string[] = [];
    for (const f of files(top)) {
      if (!readFileSync(f, 'latin1').includes(SECRET)) continue;
      holders.push(relative(top, f));
      expect(f, 'a log holds the password').not.toMatch(/\.(log|jsonl)$/);
      expect(othersCanRead(f, top), `${f} is readable by others`).toBe(false);
    }
    // Exactly the configs that must hold it.
    expect(holders.every((h) => /(redis|sentinel)\.conf$|nutcracker(\.staged)?\.yml$/.test(h)), holders.join(', ')).toBe(true);
    for (const { what, r } of outputs) {
      expect(r.stdout, what).not.toContain(SECRET);
      expect(r.stderr, what).not.toContain(SECRET);
    }
    // Every process of this stack: its argv is visible to every user.
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        const env = readFileSync(`/proc/${pid}/environ`, 'latin1');
        const cwd = readlinkSync(`/proc/${pid}/cwd`);
        if (!env.includes(`${STATE_ENV}=${top}`) && !cwd.startsWith(top)) continue;
        expect(readFileSync(`/proc/${pid}/cmdline`, 'latin1'), `pid ${pid}`).not.toContain(SECRET);
      } catch {
        /* gone, or not ours to read */
      }
    }
  });
});

describe('password problems are reported before anything starts', () => {
  it('a missing password file', async () => {
    const s = prepareStack(BASE + 50, { auth: { passwordFile: 'missing-password' } });
    try {
      const r = await s.cli(['up']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/auth\.passwordFile: cannot read .*missing-password: ENOENT/);
      expect(existsSync(join(s.topo.stateDir, 'redis'))).toBe(false);
    } finally {
      await s.stop();
    }
  });

  it('an unset password variable', async () => {
    const s = prepareStack(BASE + 50, { auth: { passwordEnv: 'RS_TEST_NO_SUCH_VAR' } });
    try {
      const r = await s.cli(['up']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/auth\.passwordEnv: environment variable RS_TEST_NO_SUCH_VAR is not set or empty/);
    } finally {
      await s.stop();
    }
  });

  it('an empty password file', async () => {
    const s = prepareStack(BASE + 50, { auth: { passwordFile: 'empty' } });
    writeFileSync(join(s.dir, 'empty'), '\n', { mode: 0o600 });
    try {
      const r = await s.cli(['up']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/password file .*empty is empty/);
    } finally {
      await s.stop();
    }
  });
});
