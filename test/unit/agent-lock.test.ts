import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApplyLock } from '../../src/agent/index.js';
import { readProcStat } from '../../src/engine/index.js';

describe('the apply lock and its owner identity (PID + start time)', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
  const lockPath = () => {
    const d = mkdtempSync(join(tmpdir(), 'redis-shard-lock-'));
    dirs.push(d);
    return join(d, 'apply.lock');
  };
  const myTicks = readProcStat(process.pid)!.startTicks;

  it('a lock recorded with our PID but another start time is an earlier process: taken over', async () => {
    const path = lockPath();
    writeFileSync(path, `${process.pid} ${myTicks + 12345}\n`);
    const lock = await ApplyLock.acquire(path, 300);
    expect(readFileSync(path, 'utf8')).toBe(`${process.pid} ${myTicks}\n`);
    lock.release();
  });

  it('a lock held by this very process (our PID and start time) is waited for, not taken', async () => {
    const path = lockPath();
    const held = await ApplyLock.acquire(path, 300);
    await expect(ApplyLock.acquire(path, 200)).rejects.toThrow(/another process .* is applying/);
    held.release();
    (await ApplyLock.acquire(path, 200)).release();
  });

  it('a dead owner is taken over; a live one with its own start time is not', async () => {
    const path = lockPath();
    writeFileSync(path, '999999999 1\n');
    (await ApplyLock.acquire(path, 300)).release();
    writeFileSync(path, `1 ${readProcStat(1)!.startTicks}\n`);
    await expect(ApplyLock.acquire(path, 200)).rejects.toThrow(/another process \(pid 1\)/);
  });
});
