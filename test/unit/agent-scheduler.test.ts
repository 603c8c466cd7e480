import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PassScheduler, type SchedulerOptions } from '../../src/agent/scheduler.js';

/** A pass whose every run is held open until the test releases it. */
function gatedPass() {
  const runs: Array<{ startedAt: number; release: (soon: boolean) => void; fail: (e: Error) => void }> = [];
  const pass = () =>
    new Promise<boolean>((resolve, reject) => {
      runs.push({ startedAt: Date.now(), release: resolve, fail: reject });
    });
  return { runs, pass };
}

function scheduler(pass: () => Promise<boolean>, over: Partial<SchedulerOptions> = {}) {
  const errors: string[] = [];
  const s = new PassScheduler({
    pass,
    onError: (e) => errors.push(e.message),
    intervalMs: 1000,
    soonMs: 50,
    maxSoonStreak: 3,
    retry: (attempt) => 100 * 2 ** (attempt - 1),
    ...over,
  });
  return { s, errors };
}

describe('PassScheduler', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs nothing before start(); start() runs the first pass and resolves firstPass', async () => {
    const pass = vi.fn(async () => false);
    const { s } = scheduler(pass);
    s.trigger();
    await vi.advanceTimersByTimeAsync(5000);
    expect(pass).not.toHaveBeenCalled();
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    await s.firstPass;
    expect(pass).toHaveBeenCalledTimes(1);
    expect(s.passes).toBe(1);
    await s.stop();
  });

  it('coalesces triggers that arrive during a pass into exactly one more pass, right after it', async () => {
    const g = gatedPass();
    const { s } = scheduler(g.pass);
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(g.runs).toHaveLength(1);
    expect(s.running).toBe(true);
    for (let i = 0; i < 5; i++) s.trigger();
    // No second pass at once while one is in flight.
    await vi.advanceTimersByTimeAsync(10);
    expect(g.runs).toHaveLength(1);
    g.runs[0]!.release(false);
    await vi.advanceTimersByTimeAsync(0);
    expect(g.runs).toHaveLength(2);
    const rerunAt = g.runs[1]!.startedAt;
    g.runs[1]!.release(false);
    // Then the normal interval: the five triggers made one pass, not five.
    await vi.advanceTimersByTimeAsync(999);
    expect(g.runs).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(g.runs).toHaveLength(3);
    expect(g.runs[2]!.startedAt - rerunAt).toBe(1000);
    g.runs[2]!.release(false);
    await s.stop();
  });

  it('follows a pass that asks for "soon" after soonMs, and falls back to the interval after maxSoonStreak', async () => {
    const pass = vi.fn(async () => true);
    const { s } = scheduler(pass);
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(pass).toHaveBeenCalledTimes(1);
    // Passes 2, 3 and 4 follow at 50 ms (the streak of 3 "soon" passes is allowed)...
    await vi.advanceTimersByTimeAsync(150);
    expect(pass).toHaveBeenCalledTimes(4);
    // ...the fourth "soon" in a row waits the interval.
    await vi.advanceTimersByTimeAsync(999);
    expect(pass).toHaveBeenCalledTimes(4);
    await vi.advanceTimersByTimeAsync(1);
    expect(pass).toHaveBeenCalledTimes(5);
    await s.stop();
  });

  it('backs off on failure: holds off for the policy\'s delay, growing per failure, and resets on success', async () => {
    const pass = vi.fn(async () => true);
    const { s } = scheduler(pass, { maxSoonStreak: 1000 });
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(s.holdingOff).toBe(false);
    expect(s.failed(new Error('nutcracker would not start')).delayMs).toBe(100);
    expect(s.holdingOff).toBe(true);
    expect(s.failureCount).toBe(1);
    expect(s.failed(new Error('again')).delayMs).toBe(200);
    expect(s.failed(new Error('again')).delayMs).toBe(400);
    // The next pass after one that ends while holding off comes when the hold-off ends, not at soonMs.
    const n = pass.mock.calls.length;
    s.trigger();
    await vi.advanceTimersByTimeAsync(0);
    expect(pass).toHaveBeenCalledTimes(n + 1);
    await vi.advanceTimersByTimeAsync(350);
    expect(pass).toHaveBeenCalledTimes(n + 1);
    expect(s.holdingOff).toBe(true);
    await vi.advanceTimersByTimeAsync(50);
    expect(pass).toHaveBeenCalledTimes(n + 2);
    expect(s.holdingOff).toBe(false);
    s.succeeded();
    expect(s.failureCount).toBe(0);
    expect(s.failed(new Error('later')).delayMs).toBe(100);
    await s.stop();
  });

  it('never waits longer than the interval for a pass, even when the hold-off is longer; "stop" from the policy means the interval', async () => {
    const pass = vi.fn(async () => false);
    const { s } = scheduler(pass, { retry: (attempt) => (attempt > 1 ? 'stop' : 60_000) });
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(s.failed(new Error('x')).delayMs).toBe(60_000);
    s.trigger();
    await vi.advanceTimersByTimeAsync(0);
    const n = pass.mock.calls.length;
    await vi.advanceTimersByTimeAsync(1000);
    expect(pass).toHaveBeenCalledTimes(n + 1);
    // Passes go on (they observe and report) while the apply is held off.
    expect(s.holdingOff).toBe(true);
    expect(s.failed(new Error('y')).delayMs).toBe(1000);
    await s.stop();
  });

  it('a pass that throws is reported and followed soon', async () => {
    let first = true;
    const pass = vi.fn(async () => {
      if (first) {
        first = false;
        throw new Error('boom');
      }
      return false;
    });
    const { s, errors } = scheduler(pass);
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(errors).toEqual(['boom']);
    expect(s.passes).toBe(1);
    await vi.advanceTimersByTimeAsync(50);
    expect(pass).toHaveBeenCalledTimes(2);
    await s.stop();
  });

  it('stop() waits for the pass in flight, cancels every timer, and no pass starts after it', async () => {
    const g = gatedPass();
    const { s } = scheduler(g.pass);
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(s.running).toBe(true);
    s.trigger();
    let stopped = false;
    const stopping = s.stop().then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(100);
    expect(stopped).toBe(false);
    g.runs[0]!.release(true);
    await stopping;
    expect(s.running).toBe(false);
    // The rerun the trigger asked for does not happen once stopping, nor does the "soon" pass.
    expect(s.passes).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
    s.trigger();
    s.start();
    await vi.advanceTimersByTimeAsync(5000);
    expect(g.runs).toHaveLength(1);
  });

  it('stop() is bounded: a pass that never ends does not hold it past the bound, and its bound timer is cleared', async () => {
    const g = gatedPass();
    const { s } = scheduler(g.pass);
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    const stopping = s.stop(Promise.resolve(), 5000);
    await vi.advanceTimersByTimeAsync(5000);
    await stopping;
    expect(vi.getTimerCount()).toBe(0);
  });
});
