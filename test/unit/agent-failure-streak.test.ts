import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FailureStreak } from '../../src/agent/failure-streak.js';

describe('FailureStreak', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  const policy = (attempt: number) => 100 * 2 ** (attempt - 1);

  it('reports the first failure of a streak only, and again when what fails changes', () => {
    const s = new FailureStreak(policy, 1000);
    expect(s.failed(new Error('a'), 'k1')).toEqual({ attempt: 1, delayMs: 100, report: true });
    expect(s.failed(new Error('a'), 'k1')).toEqual({ attempt: 2, delayMs: 200, report: false });
    expect(s.failed(new Error('a'), 'k1').report).toBe(false);
    expect(s.failed(new Error('b'), 'k2').report).toBe(true);
    expect(s.count).toBe(4);
  });

  it('holds off for the policy\'s delay; "stop" means the given delay', () => {
    const s = new FailureStreak((n) => (n > 1 ? 'stop' : 300), 1000);
    s.failed(new Error('x'));
    expect(s.holdingOff).toBe(true);
    vi.advanceTimersByTime(299);
    expect(s.holdingOff).toBe(true);
    vi.advanceTimersByTime(1);
    expect(s.holdingOff).toBe(false);
    expect(s.failed(new Error('x')).delayMs).toBe(1000);
  });

  it('a success ends the streak and says how long it lasted; the next failure is reported again', () => {
    const s = new FailureStreak(policy, 1000);
    expect(s.succeeded()).toBeNull();
    s.failed(new Error('x'));
    vi.advanceTimersByTime(2500);
    s.failed(new Error('x'));
    expect(s.succeeded()).toEqual({ failures: 2, sinceMs: 2500 });
    expect(s.holdingOff).toBe(false);
    expect(s.failed(new Error('x')).report).toBe(true);
  });

  it('a streak left quiet for quietMs is over: a failure after that is a new one, reported', () => {
    const s = new FailureStreak(policy, 1000, 60_000);
    s.failed(new Error('x'));
    vi.advanceTimersByTime(60_001);
    expect(s.failed(new Error('x'))).toEqual({ attempt: 1, delayMs: 100, report: true });
  });
});
