import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ThroughputResult } from '../../src/ops/bench-throughput.js';
import { prepareStack, type TestStack } from '../support/stack.js';

// Ports 15200-15231 belong to this file.
const BASE = 15200;
// A stack with a password: bench must pass it to redis-benchmark and never print it.
const PASSWORD = 'bench-secret-7f3a9c';
const ENV = { RS_BENCH_TEST_PASSWORD: PASSWORD };
const COMMANDS = ['SET', 'GET', 'INCR', 'LPUSH', 'LPOP', 'SADD', 'SPOP', 'LPUSH (for LRANGE)', 'LRANGE_100', 'LRANGE_300', 'LRANGE_500', 'LRANGE_600'];

describe('bench (throughput)', () => {
  let s: TestStack;
  beforeAll(async () => {
    s = prepareStack(BASE, { auth: { passwordEnv: 'RS_BENCH_TEST_PASSWORD' } });
    const r = await s.cli(['up', '--timeout', '60'], { env: ENV });
    if (r.code !== 0) throw new Error(`up failed (${r.code}): ${r.stderr}${r.stdout}`);
  });
  afterAll(async () => {
    // down (in stop) reads the password too, to talk to what it stops.
    process.env.RS_BENCH_TEST_PASSWORD = PASSWORD;
    try {
      await s?.stop();
    } finally {
      delete process.env.RS_BENCH_TEST_PASSWORD;
    }
  });

  it('prints one table: every command, through the proxy and against each master, with a ratio; never the password', async () => {
    const r = await s.cli(['bench', '-n', '2000'], { env: ENV, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    const header = lines.find((l) => l.includes('command'))!;
    expect(header).toMatch(/proxy 127\.0\.0\.1:15230 .*s1 127\.0\.0\.1:15200 .*s2 127\.0\.0\.1:15210 .*proxy\/direct/);
    for (const cmd of COMMANDS) {
      const row = lines.find((l) => new RegExp(`^│ ${cmd.replace(/[()]/g, '\\$&')} +│`).test(l));
      expect(row, `a row for ${cmd}`).toBeDefined();
      // Four figures (proxy, s1, s2, ratio), all numbers.
      const cells = row!.split('│').slice(2, -1).map((c) => c.trim());
      expect(cells, cmd).toHaveLength(4);
      for (const c of cells.slice(0, 3)) expect(c, cmd).toMatch(/^[0-9][0-9,]*$/);
      expect(Number(cells[3]), cmd).toBeGreaterThan(0);
    }
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
  });

  it('the bench group runs throughput by name too, and --json gives the figures', async () => {
    const r = await s.cli(['bench', 'throughput', '-n', '500', '--tests', 'get,set', '--json'], { env: ENV });
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as ThroughputResult;
    expect(j.targets.map((t) => [t.label, t.kind])).toEqual([['proxy', 'proxy'], ['s1', 'master'], ['s2', 'master']]);
    expect(j.rows.map((row) => row.name)).toEqual(['SET', 'GET']);
    for (const row of j.rows) expect(row.ratio).toBeGreaterThan(0);
  });

  it('a wrong password fails with a message that does not contain it', async () => {
    const wrong = 'wrong-password-91b2';
    const r = await s.cli(['bench', '-n', '100', '--tests', 'get'], { env: { RS_BENCH_TEST_PASSWORD: wrong } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/redis-shard: /);
    expect(r.stdout + r.stderr).not.toContain(wrong);
  });

  it('bad options are named', async () => {
    const r = await s.cli(['bench', '--requests', '0'], { env: ENV });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--requests: 0 is outside 1-/);
    const r2 = await s.cli(['bench', '--bogus'], { env: ENV });
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/unknown option '--bogus'/);
  });
});
