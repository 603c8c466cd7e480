import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireStackLock, stackLockHolder, stackLockPath } from '../../src/runtime/index.js';

const dir = mkdtempSync(join(tmpdir(), 'rs-unit-stack-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the state dir lock', () => {
  it('a second taker waits, then fails naming the holder; after release it is free', async () => {
    const a = await acquireStackLock(dir, 'up');
    const t0 = Date.now();
    await expect(acquireStackLock(dir, 'services install', { waitMs: 300 })).rejects.toThrow(
      new RegExp(`up \\(pid ${process.pid}, since [0-9T:.-]+Z\\) holds the lock on ${dir}`),
    );
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(stackLockHolder(dir)?.command).toBe('up');
    a.release();
    expect(stackLockHolder(dir)).toBeNull();
    const b = await acquireStackLock(dir, 'down', { waitMs: 0 });
    b.release();
  });

  it('up --host locks only that host: two hosts at once; the whole-dir lock waits for both, and they for it', async () => {
    const a = await acquireStackLock(dir, 'up', { host: '127.0.0.1', waitMs: 0 });
    const b = await acquireStackLock(dir, 'up', { host: '127.0.0.2', waitMs: 0 });
    await expect(acquireStackLock(dir, 'up', { host: '127.0.0.1', waitMs: 200 })).rejects.toThrow(/up \(pid \d+/);
    await expect(acquireStackLock(dir, 'reshard', { waitMs: 200 })).rejects.toThrow(/up \(pid \d+, since .*\) holds the lock/);
    a.release();
    await expect(acquireStackLock(dir, 'reshard', { waitMs: 200 })).rejects.toThrow(/holds the lock/);
    b.release();
    const whole = await acquireStackLock(dir, 'reshard', { waitMs: 0 });
    await expect(acquireStackLock(dir, 'up', { host: '127.0.0.2', waitMs: 200 })).rejects.toThrow(/reshard \(pid \d+/);
    whole.release();
    const again = await acquireStackLock(dir, 'up', { host: '127.0.0.2', waitMs: 0 });
    again.release();
  });

  it('a lock left by a process that died is taken over', async () => {
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    const pid = await new Promise<number>((r) => child.once('exit', () => r(child.pid!)));
    writeFileSync(stackLockPath(dir), `${JSON.stringify({ pid, ticks: 1, command: 'up', since: '2026-01-01T00:00:00.000Z' })}\n`);
    const l = await acquireStackLock(dir, 'down', { waitMs: 0 });
    expect(JSON.parse(readFileSync(stackLockPath(dir), 'utf8')).pid).toBe(process.pid);
    l.release();
  });

  it('asking the holder to stop aborts its signal; the asker gets the lock once it lets go', async () => {
    const holder = await acquireStackLock(dir, 'up');
    holder.signal.addEventListener('abort', () => holder.release());
    const asked: string[] = [];
    const l = await acquireStackLock(dir, 'down', { waitMs: 0, askToStop: { commands: ['up'], stopWaitMs: 5000, onAsk: (h) => asked.push(h.command) } });
    expect(asked).toEqual(['up']);
    expect(holder.signal.aborted).toBe(true);
    l.release();
  });
});
