import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/errors.js';
import { exponentialBackoff } from '../../src/agent/index.js';

describe('retry policy', () => {
  it('doubles from the base up to the cap, without jitter when random() is 0', () => {
    const p = exponentialBackoff({ baseMs: 100, capMs: 1000, random: () => 0 });
    expect([1, 2, 3, 4, 5, 6, 50, 5000].map((n) => p(n, new Error('x')))).toEqual([100, 200, 400, 800, 1000, 1000, 1000, 1000]);
  });

  it('jitter only shortens the delay, by at most the jitter fraction', () => {
    const p = exponentialBackoff({ baseMs: 100, capMs: 1000, jitter: 0.5, random: () => 1 });
    expect(p(1, null)).toBe(50);
    expect(p(10, null)).toBe(500);
    const q = exponentialBackoff({ baseMs: 100, capMs: 1000, jitter: 0.2 });
    for (let i = 0; i < 200; i++) {
      const d = q(3, null) as number;
      expect(d).toBeGreaterThanOrEqual(320);
      expect(d).toBeLessThanOrEqual(400);
    }
  });

  it('stops after maxAttempts, and at once for permanent causes', () => {
    const p = exponentialBackoff({ baseMs: 10, capMs: 100, maxAttempts: 3, isPermanent: (e) => e instanceof InvalidInputError, random: () => 0 });
    expect(p(3, new Error('transient'))).toBe(40);
    expect(p(4, new Error('transient'))).toBe('stop');
    expect(p(1, new InvalidInputError('bad'))).toBe('stop');
  });

  it('survives silly attempt numbers', () => {
    const p = exponentialBackoff({ baseMs: 10, capMs: 100, random: () => 0 });
    expect(p(0, null)).toBe(10);
    expect(p(-3, null)).toBe(10);
    expect(p(1e9, null)).toBe(100);
  });
});
