import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statusText } from '../../src/cli/status-text.js';
import type { StatusReport } from '../../src/ops/status.js';
import { ourPid, waitFor } from '../../src/runtime/index.js';
import { redisPaths } from '../../src/topology/index.js';
import { CLI, upStack, type TestStack } from '../support/stack.js';

// Ports 15000-15031 belong to this file.
const BASE = 15000;
const a = (p: number) => `127.0.0.1:${BASE + p}`;

describe('status', () => {
  let s: TestStack;
  beforeAll(async () => {
    s = await upStack(BASE);
  });
  afterAll(async () => {
    await s?.stop();
  });

  const status = async () => {
    const r = await s.cli(['status', '--json']);
    return { code: r.code, stderr: r.stderr, report: JSON.parse(r.stdout) as StatusReport };
  };

  it('a healthy stack: exit 0 and the JSON shape, every part up and agreeing', async () => {
    const { code, report, stderr } = await status();
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(report.healthy).toBe(true);
    expect(report.problems).toEqual([]);
    expect(report.proxy).toMatchObject({ listen: a(30), up: true });
    expect(report.agent).toMatchObject({ running: true });
    expect(report.sentinels).toEqual([20, 21, 22].map((p) => ({ addr: a(p), up: true })));
    expect(report.shards.map((sh) => ({ name: sh.name, master: sh.master, proxyTarget: sh.proxyTarget }))).toEqual([
      { name: 's1', master: a(0), proxyTarget: a(0) },
      { name: 's2', master: a(10), proxyTarget: a(10) },
    ]);
    expect(report.shards[0]!.instances.map((i) => ({ addr: i.addr, up: i.up, role: i.role }))).toEqual([
      { addr: a(0), up: true, role: 'master' },
      { addr: a(1), up: true, role: 'replica' },
      { addr: a(2), up: true, role: 'replica' },
    ]);
    for (const i of report.shards.flatMap((sh) => sh.instances.filter((x) => x.role === 'replica'))) {
      expect(i.link).toBe('up');
      expect(i.lagSeconds).not.toBeNull();
    }
    for (const sh of report.shards) expect(sh.predictedShare).toBeGreaterThan(0);
  });

  it('the text view: a table per shard, and statusText (the live view of up --foreground) says the same', async () => {
    const r = await s.cli(['status']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/shard s1 +master 127\.0\.0\.1:15000 \(3\/3 sentinels\) +proxy -> 127\.0\.0\.1:15000/);
    expect(r.stdout).toMatch(/127\.0\.0\.1:15011 +│ up +│ replica │ of 127\.0\.0\.1:15010, link up/);
    expect(r.stdout).toContain('healthy: every part is up and they all agree');
    const text = await statusText(s.topo);
    expect(text).toContain('healthy: every part is up and they all agree');
    expect(text).toContain('shard s2');
  });

  it('--watch refreshes until SIGINT and then exits 0', async () => {
    const child = spawn(process.execPath, [CLI, '-c', s.file, 'status', '--watch', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      await waitFor(() => out.split('\n').filter((l) => l.startsWith('{')).length >= 2, { timeoutMs: 15_000, what: 'two refreshes' });
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    const docs = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as StatusReport);
    expect(docs[1]!.at > docs[0]!.at).toBe(true);
  });

  it('a replica killed with -9: exit 4, that instance up:false role:null, nothing fails over', async () => {
    const victim = a(2);
    const pid = ourPid(redisPaths(s.topo.stateDir, victim).pid, s.topo.stateDir)!;
    process.kill(pid, 'SIGKILL');
    const { code, report, stderr } = await status();
    expect(code).toBe(4);
    expect(stderr).toMatch(/unhealthy: .*127\.0\.0\.1:15002 is down/);
    const inst = report.shards[0]!.instances.find((i) => i.addr === victim)!;
    expect(inst).toMatchObject({ up: false, role: null, flagged: true });
    expect(report.shards[0]!.master).toBe(a(0));
    expect(report.problems).toContain(`s1: ${victim} is down (connection refused)`);
    // The stack heals with up, and status is healthy again once the replica has resynced.
    expect((await s.cli(['up'])).code).toBe(0);
    await waitFor(async () => (await status()).code === 0, { timeoutMs: 20_000, intervalMs: 250, what: 'status healthy after up' });
  });

  it('a master killed with -9: the sentinels elect another; status names it and flags the dead one', async () => {
    const victim = a(10);
    const pid = ourPid(redisPaths(s.topo.stateDir, victim).pid, s.topo.stateDir)!;
    process.kill(pid, 'SIGKILL');
    const report = await waitFor(
      async () => {
        const r = await status();
        const m = r.report.shards[1]!.master;
        return m !== null && m !== victim ? r : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'the sentinels to elect a new master of s2' },
    );
    expect(report.code).toBe(4);
    const s2 = report.report.shards[1]!;
    expect([a(11), a(12)]).toContain(s2.master);
    expect(s2.instances.find((i) => i.addr === victim)).toMatchObject({ up: false, role: null });
    // The promoted replica reports master as soon as Sentinel's SLAVEOF NO ONE ran.
    await waitFor(async () => (await status()).report.shards[1]!.instances.find((i) => i.addr === s2.master)?.role === 'master', {
      timeoutMs: 10_000,
      intervalMs: 250,
      what: 'the new master to report role master',
    });
    // The agent may or may not have followed yet: either the proxy points at the new master, or status says it does not.
    const last = (await status()).report.shards[1]!;
    if (last.proxyTarget !== last.master) {
      expect(last.problems).toContain(`the proxy sends this shard to ${last.proxyTarget}, but the sentinels' master is ${last.master}`);
    }
  });
});
