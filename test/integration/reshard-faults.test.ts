import { existsSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ourPid } from '../../src/runtime/index.js';
import { readState } from '../../src/reshard/index.js';
import { redisPaths } from '../../src/topology/index.js';
import { CLI, startStack, type TestStack } from '../support/stack.js';
import { allKeys, client, editDescription, loadAndSnapshot, proxyMasters, snapshot, verifyPlacement } from './reshard-helpers.js';

// Ports 25300-25349: s1 25300-2, s2 25310-2, sentinels 25320-2, proxy 25330/31, added s3 25340-2.
const BASE = 25300;
const a = (p: number) => `127.0.0.1:${BASE + p}`;

/** `reshard` in the background, JSON events on stdout; resolves `progressed` at the first copied key. */
function background(s: TestStack, args: string[]): { child: ChildProcess; progressed: Promise<void>; done: Promise<{ code: number | null; out: string }> } {
  const child = spawn(process.execPath, [CLI, '-c', s.file, 'reshard', '--json', ...args], { cwd: s.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let resolveProgress!: () => void;
  const progressed = new Promise<void>((r) => (resolveProgress = r));
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    if (/"type":"progress","phase":"copying","keysCopied":[1-9]/.test(out)) resolveProgress();
  });
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<{ code: number | null; out: string }>((r) => child.on('exit', (code) => r({ code, out })));
  return { child, progressed, done };
}

describe('reshard faults: --abort, and source or destination masters killed during the copy (key by key and from snapshots)', () => {
  let s: TestStack;
  let before: Awaited<ReturnType<typeof snapshot>>;
  beforeAll(async () => {
    s = await startStack(BASE, { agent: { apply: 'supervise' } });
    before = await loadAndSnapshot(s);
    editDescription(s, (d) => {
      (d.shards as unknown[]).push({ name: 's3', master: a(40), instances: [a(40), a(41), a(42)] });
    });
  }, 120_000);
  afterAll(async () => {
    await s?.stop();
  }, 60_000);

  it('--abort in the middle of the copy leaves everything as before: copies gone, s3 stopped and forgotten', async () => {
    const run = background(s, ['--yes', '--rate', '300']);
    await run.progressed;
    run.child.kill('SIGKILL');
    await run.done;
    expect(readState(s.topo.stateDir)?.phase).toBe('copying');
    const again = await s.cli(['reshard', '--yes']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/in progress.*--resume or reshard --abort/);
    const r = await s.cli(['reshard', '--abort', '--json']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(readState(s.topo.stateDir)).toBeNull();
    expect(Object.keys(proxyMasters(s.topo)).sort()).toEqual(['s1', 's2']);
    for (const i of [40, 41, 42]) expect(ourPid(redisPaths(s.topo.stateDir, a(i)).pid, s.topo.stateDir)).toBeNull();
    for (const i of [40, 41, 42]) expect(existsSync(redisPaths(s.topo.stateDir, a(i)).dir)).toBe(false);
    const sent = client(a(20));
    expect(await sent.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 's3')).toBeNull();
    sent.disconnect();
    // Each key only where the old ring puts it, as before.
    const now = await snapshot(proxyMasters(s.topo));
    expect(now.size).toBe(before.size);
    for (const [k, where] of now) expect(where, k).toEqual(before.get(k));
  }, 120_000);

  it('a source master killed (SIGKILL) during the copy: its pass starts over on the promoted replica; nothing lost', async () => {
    const run = background(s, ['--yes', '--rate', '1000']);
    await run.progressed;
    const victim = proxyMasters(s.topo).s1!;
    const pid = ourPid(redisPaths(s.topo.stateDir, victim).pid, s.topo.stateDir)!;
    process.kill(pid, 'SIGKILL');
    const r = await run.done;
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/"type":"repass","shard":"s1"/);
    expect(proxyMasters(s.topo).s1).not.toBe(victim);
    expect(await verifyPlacement(s.topo, before, () => false).then((x) => x.slice(0, 10))).toEqual([]);
    const s3 = client(proxyMasters(s.topo).s3!);
    expect((await allKeys(s3)).length).toBeGreaterThan(500);
    s3.disconnect();
  }, 180_000);

  it('unthrottled, from a snapshot: the source master killed while its replica streams the snapshot; the pass starts over; nothing lost', async () => {
    // Back to two shards: s3 is the only source. Its replicas write the snapshot slowly (1 ms a key), so the kill
    // lands inside it.
    editDescription(s, (d) => {
      d.shards = (d.shards as Array<{ name: string }>).filter((x) => x.name !== 's3');
    });
    const s3Master = proxyMasters(s.topo).s3!;
    const replicas = [a(40), a(41), a(42)].filter((x) => x !== s3Master);
    for (const r of replicas) {
      const c = client(r);
      await c.config('SET', 'rdb-key-save-delay', '1000');
      c.disconnect();
    }
    const run = background(s, ['--yes']);
    const streaming = async () => {
      for (const r of replicas) {
        const c = client(r);
        const info = await c.info('persistence').finally(() => c.disconnect());
        if (/rdb_bgsave_in_progress:1/.test(info)) return true;
      }
      return false;
    };
    const deadline = Date.now() + 60_000;
    while (!(await streaming())) {
      expect(Date.now(), 'a replica of s3 forks for the snapshot').toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 20));
    }
    process.kill(ourPid(redisPaths(s.topo.stateDir, s3Master).pid, s.topo.stateDir)!, 'SIGKILL');
    const r = await run.done;
    for (const x of replicas) {
      const c = client(x);
      await c.config('SET', 'rdb-key-save-delay', '0').catch(() => {});
      c.disconnect();
    }
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/"type":"repass","shard":"s3"/);
    expect(r.out).toMatch(/snapshot of [0-9.]+ MB from replica/);
    expect(Object.keys(proxyMasters(s.topo)).sort()).toEqual(['s1', 's2']);
    expect(await verifyPlacement(s.topo, before, () => false).then((x) => x.slice(0, 10))).toEqual([]);
  }, 180_000);

  it('unthrottled, from snapshots: the destination master killed while the sources stream to it; every source starts over; nothing lost', async () => {
    // s3 again (a new reshard), its master killed while the sources' replicas write their snapshots (slowly).
    editDescription(s, (d) => {
      (d.shards as unknown[]).push({ name: 's3', master: a(40), instances: [a(40), a(41), a(42)] });
    });
    const masters = proxyMasters(s.topo);
    const sourceReplicas = [a(0), a(1), a(2), a(10), a(11), a(12)].filter((x) => x !== masters.s1 && x !== masters.s2);
    const setDelay = async (v: string) => {
      for (const r of sourceReplicas) {
        const c = client(r);
        await c.config('SET', 'rdb-key-save-delay', v).catch(() => {});
        c.disconnect();
      }
    };
    await setDelay('1000');
    try {
      const run = background(s, ['--yes']);
      let ended = false;
      void run.done.then(() => (ended = true));
      const deadline = Date.now() + 60_000;
      // s3 is started and monitored before the copy; the copy has begun once a source's replica forks.
      while (!(await anyForking(sourceReplicas))) {
        expect(ended, 'the reshard is still running').toBe(false);
        expect(Date.now(), 'a source replica forks for its snapshot').toBeLessThan(deadline);
        await new Promise((r) => setTimeout(r, 20));
      }
      const victim = (await sentinelMaster(a(20), 's3'))!;
      process.kill(ourPid(redisPaths(s.topo.stateDir, victim).pid, s.topo.stateDir)!, 'SIGKILL');
      const r = await run.done;
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(/"type":"repass"/);
      expect(r.out).toMatch(/shard s3: master is now/);
      expect(proxyMasters(s.topo).s3).not.toBe(victim);
    } finally {
      await setDelay('0');
    }
    expect(await verifyPlacement(s.topo, before, () => false).then((x) => x.slice(0, 10))).toEqual([]);
  }, 240_000);
});

/** The address a sentinel gives for `name`, or null. */
async function sentinelMaster(sentinel: string, name: string): Promise<string | null> {
  const c = client(sentinel);
  try {
    const r = (await c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as [string, string] | null;
    return r === null ? null : `${r[0]}:${r[1]}`;
  } finally {
    c.disconnect();
  }
}

/** Whether one of `addrs` is writing an RDB now (a snapshot being read from it). */
async function anyForking(addrs: string[]): Promise<boolean> {
  for (const x of addrs) {
    const c = client(x);
    const info = await c.info('persistence').catch(() => '').finally(() => c.disconnect());
    if (/rdb_bgsave_in_progress:1/.test(info)) return true;
  }
  return false;
}
