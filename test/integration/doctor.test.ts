import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DoctorReport } from '../../src/ops/doctor.js';
import { prepareStack, type TestStack } from '../support/stack.js';

// Ports 15300-15331 belong to this file (15340-15371 for the broken-description cases).
const BASE = 15300;

const doctor = async (s: TestStack, args: string[] = []) => {
  const r = await s.cli(['doctor', '--json', ...args]);
  return { code: r.code, stderr: r.stderr, report: JSON.parse(r.stdout) as DoctorReport };
};
const check = (r: DoctorReport, what: string) => r.checks.find((c) => c.what === what);

describe('doctor', () => {
  let s: TestStack;
  beforeAll(() => {
    s = prepareStack(BASE);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('before up: binaries with versions, every port free, state dir creatable; exit 0', async () => {
    const { code, report, stderr } = await doctor(s);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(report.ok).toBe(true);
    for (const bin of ['redis-server', 'redis-sentinel', 'redis-cli', 'redis-benchmark', 'nutcracker', 'haproxy']) {
      expect(check(report, `binary ${bin}`)).toMatchObject({ state: 'ok', detail: expect.stringMatching(/, version [0-9]+\.[0-9]+/) });
    }
    const ports = report.checks.filter((c) => c.what.startsWith('port '));
    // 6 instances, 3 sentinels, the proxy and its stats, HAProxy's 2 frontends (apply mode haproxy, the default).
    expect(ports).toHaveLength(6 + 3 + 2 + 2);
    expect(ports.map((p) => p.what)).toEqual(expect.arrayContaining([expect.stringMatching(/^port 127\.0\.0\.1:\d+ \(haproxy frontend s1\)$/)]));
    // Free; a warning only when the port lies in the kernel's ephemeral range and is not reserved.
    for (const p of ports) expect(p.state === 'ok' ? p.detail : p.fix).toMatch(/^free$|ip_local_reserved_ports/);
    expect(check(report, `state dir ${s.topo.stateDir}`)).toMatchObject({ state: 'ok', detail: expect.stringContaining('up can create it') });
  });

  it('with the stack up: every port held by our own processes; exit 0', async () => {
    const up = await s.cli(['up', '--timeout', '60']);
    expect(up.code, up.stderr).toBe(0);
    const { code, report } = await doctor(s);
    expect(code).toBe(0);
    expect(check(report, `port 127.0.0.1:${BASE} (redis)`)).toMatchObject({ state: 'ok', detail: expect.stringMatching(/^held by our own redis \(pid [0-9]+\)$/) });
    expect(check(report, `port 127.0.0.1:${BASE + 31} (proxy stats)`)?.detail).toMatch(/^held by our own proxy/);
    const text = await s.cli(['doctor']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('doctor: no failures');
    expect((await s.cli(['down'])).code).toBe(0);
  });

  it('a port held by a stranger fails, naming the address and the holder, with a fix', async () => {
    const port = BASE + 21;
    const stranger: Server = createServer();
    await new Promise<void>((r) => stranger.listen(port, '127.0.0.1', r));
    try {
      const { code, report, stderr } = await doctor(s);
      expect(code).toBe(3);
      expect(report.ok).toBe(false);
      const c = check(report, `port 127.0.0.1:${port} (sentinel)`)!;
      expect(c.state).toBe('fail');
      expect(c.detail).toBe(`held by another process: node (pid ${process.pid}), listening`);
      expect(c.fix).toMatch(/stop what holds 127\.0\.0\.1:15321/);
      expect(stderr).toMatch(/doctor: 1 check failed: port 127\.0\.0\.1:15321 \(sentinel\): held by another process/);
    } finally {
      await new Promise((r) => stranger.close(r));
    }
  });
});

describe('doctor: environment problems', () => {
  it('a state dir that cannot be created is named, with a fix', async () => {
    const s = prepareStack(BASE + 40, { stateDir: 'not-a-dir/state' });
    writeFileSync(join(s.dir, 'not-a-dir'), 'a file, not a folder\n');
    try {
      const { code, report } = await doctor(s);
      expect(code).toBe(3);
      const c = report.checks.find((x) => x.what.startsWith('state dir'))!;
      expect(c).toMatchObject({ state: 'fail', detail: expect.stringMatching(/not-a-dir is a file, not a folder/) });
      expect(c.fix).toMatch(/set stateDir in the description/);
    } finally {
      await s.stop();
    }
  });

  it('a password variable that is not set fails the password check', async () => {
    const s = prepareStack(BASE + 40, { auth: { passwordEnv: 'RS_DOCTOR_TEST_UNSET' } });
    try {
      const { code, report } = await doctor(s);
      expect(code).toBe(3);
      expect(report.checks.find((x) => x.what === 'password')).toMatchObject({
        state: 'fail',
        detail: expect.stringMatching(/RS_DOCTOR_TEST_UNSET is not set/),
        fix: expect.stringMatching(/export RS_DOCTOR_TEST_UNSET=/),
      });
    } finally {
      await s.stop();
    }
  });

  it('--host that matches nothing, and an unknown flag, exit 2 with one message', async () => {
    const s = prepareStack(BASE + 40);
    try {
      const r = await s.cli(['doctor', '--host', '10.9.9.9']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--host 10\.9\.9\.9: matches nothing/);
      const r2 = await s.cli(['doctor', '--bogus']);
      expect(r2.code).toBe(2);
      expect(r2.stderr).toMatch(/unknown option '--bogus'/);
    } finally {
      await s.stop();
    }
  });
});
