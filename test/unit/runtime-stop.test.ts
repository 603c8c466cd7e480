import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { killAtOnce, stopPid } from '../../src/runtime/index.js';

/** A child of ours that ignores SIGTERM when asked to, started and stopped by PID within the test. */
async function child(ignoreTerm: boolean) {
  const c = spawn('/bin/sh', ['-c', `${ignoreTerm ? "trap '' TERM; " : ''}echo ready; exec sleep 30`], { stdio: ['ignore', 'pipe', 'ignore'] });
  await once(c.stdout!, 'data');
  const exited = once(c, 'exit');
  return { pid: c.pid!, exited, c };
}

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('stopPid: SIGTERM, grace, SIGKILL, bounded', () => {
  it('a process that obeys SIGTERM is gone without SIGKILL', async () => {
    const p = await child(false);
    const before = timers();
    const r = await stopPid(p.pid, { graceMs: 5000, exited: p.exited });
    expect(r.how).toBe('exited');
    // The stop's AbortController cleared its timers: nothing of it is left to keep a process alive.
    expect(timers()).toBeLessThanOrEqual(before);
  });

  it('a process ignoring SIGTERM is SIGKILLed after the grace period', async () => {
    const p = await child(true);
    const r = await stopPid(p.pid, { graceMs: 200, exited: p.exited });
    expect(r.how).toBe('killed');
    expect(r.ms).toBeGreaterThanOrEqual(200);
  });

  it('nothing to stop is said so', async () => {
    const p = await child(false);
    p.c.kill('SIGKILL');
    await p.exited;
    expect((await stopPid(p.pid, { graceMs: 100 })).how).toBe('not-running');
  });

  it('killAtOnce signals every PID back to back and waits for all', async () => {
    const a = await child(true);
    const b = await child(true);
    const { at } = await killAtOnce([a.pid, b.pid]);
    expect(at).toBeGreaterThan(0);
    const [[, sa], [, sb]] = await Promise.all([a.exited, b.exited]);
    expect([sa, sb]).toEqual(['SIGKILL', 'SIGKILL']);
  });
});
