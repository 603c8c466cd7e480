import { describe, expect, it } from 'vitest';
import { checkWrites, unavailability, type Attempt } from '../../src/ops/partition/checker.js';

const ok = (n: number, t: number): Attempt => ({ n, t, err: null });
const bad = (n: number, t: number, err = 'NOREPLICAS'): Attempt => ({ n, t, err });

describe('acknowledged-write checker', () => {
  it('acknowledged and missing is lost; present and unacknowledged is indeterminate; present and never tried is unexpected', () => {
    const r = checkWrites([{ shard: 's1', key: 'k', attempts: [ok(1, 10), ok(2, 20), bad(3, 30, 'timeout'), ok(4, 40), bad(5, 50)] }], { s1: [1, 3, 4, 99] });
    expect(r.shards[0]).toMatchObject({ acked: 3, errored: 2, lost: 1, indeterminate: 1, unexpected: 1, lostAckTimes: [20] });
    expect(r).toMatchObject({ acked: 3, lost: 1, indeterminate: 1, unexpected: 1, lostPct: 33.3 });
  });

  it('a shard never read back counts every acknowledged write as lost', () => {
    expect(checkWrites([{ shard: 's2', key: 'k', attempts: [ok(1, 1), ok(2, 2)] }], {}).lost).toBe(2);
  });

  it('unavailability: each run of errors, from the acknowledgement before it to the one after', () => {
    const w = unavailability([ok(1, 100), bad(2, 150), bad(3, 400, 'timeout'), ok(4, 900), ok(5, 950), bad(6, 1000)]);
    expect(w).toEqual([
      { fromMs: 100, toMs: 900, errors: 2, kinds: { NOREPLICAS: 1, timeout: 1 } },
      { fromMs: 950, toMs: 1000, errors: 1, kinds: { NOREPLICAS: 1 } },
    ]);
    const r = checkWrites([{ shard: 's1', key: 'k', attempts: [ok(1, 100), bad(2, 150), ok(3, 700)] }], { s1: [1, 3] });
    expect(r.shards[0]).toMatchObject({ longestMs: 600, unavailableMs: 600, errorKinds: { NOREPLICAS: 1 } });
  });
});
