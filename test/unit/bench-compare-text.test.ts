import { describe, expect, it } from 'vitest';
import { compareEventLine, compareTable } from '../../src/cli/bench-compare-text.js';
import type { CompareResult, CompareRun } from '../../src/ops/bench-compare.js';

const run = (gap: number, dropped: number, stall: number, serving: number | null): CompareRun => ({
  writeGapMs: gap,
  other: { ok: 100, errors: 0, errorSample: null, dropped, longestStallMs: stall },
  promotedToServingMs: serving,
});

describe('bench failover --compare text', () => {
  const result: CompareResult = {
    machine: { cpu: 'test cpu', cores: 2 },
    runs: 3,
    shard: 's1',
    other: 's2',
    modes: [
      { mode: 'supervise', runs: [run(1500, 1, 300, 40), run(1400, 1, 250, 60), run(2100, 1, 280, null)], throughput: { set: { proxy: 80_000, direct: 150_000 }, get: { proxy: null, direct: null } } },
      { mode: 'haproxy', runs: [run(1300, 0, 5, 10), run(1250, 0, 4, 12), run(1900, 0, 6, 11)], throughput: { set: { proxy: 70_000, direct: 150_000 }, get: { proxy: 90_000, direct: 160_000 } } },
    ],
  };

  it('one column per mode: medians with the max, drops summed over the runs, n/a where nothing was measured', () => {
    const lines = compareTable(result).split('\n');
    expect(lines[0]).toMatch(/\|\s+\|\s+supervise\s+\|\s+haproxy\s+\|/);
    const row = (label: string) => lines.find((l) => l.includes(label))!.split('|').map((c) => c.trim());
    expect(row('write gap').slice(2, 4)).toEqual(['1500 ms (max 2100 ms)', '1300 ms (max 1900 ms)']);
    expect(row('connections dropped').slice(2, 4)).toEqual(['3 in 3 failovers', '0 in 3 failovers']);
    expect(row('promotion seen').slice(2, 4)).toEqual(['50 ms (max 60 ms)', '11 ms (max 12 ms)']);
    expect(row('GET through').slice(2, 4)).toEqual(['n/a / n/a', '90k/s / 160k/s']);
  });

  it('progress lines name the mode and the figures of each run', () => {
    expect(compareEventLine({ kind: 'run', mode: 'haproxy', run: 2, shard: 's1', other: 's2', result: run(1250, 0, 4, null) })).toBe(
      '[haproxy] run 2: s1 write gap 1.25 s; s2 raw client: 0 dropped, 0 errors, longest stall 4 ms; promotion seen -> serving n/a',
    );
    expect(compareEventLine({ kind: 'start', runs: 3, shard: 's1', machine: { cpu: 'x', cores: 2 } })).toContain('3 kill -9 of s1');
  });
});
