import { describe, expect, it } from 'vitest';
import { benchFailoverRow, benchFailoverSummary } from '../../src/cli/bench-text.js';
import { renderFailoverEvent } from '../../src/cli/failover-text.js';
import type { BenchFailoverRun } from '../../src/ops/bench-failover.js';
import type { ProbeReport } from '../../src/ops/client-probe.js';
import type { RoundResult } from '../../src/ops/failover-round.js';

const probe = (name: string): ProbeReport => ({
  name, op: 'write', successes: 100, longestGapMs: 1400, gapFromMs: 10, gapToMs: 1410, open: false, outages: 1, outageMs: 1400, failures: {}, connections: 2, windowMs: 3000,
});
const proxies = [{ listen: '127.0.0.2:22121', followedMs: 1420 }, { listen: '127.0.0.3:22121', followedMs: 1480 }];

describe('several proxies in the failover reports', () => {
  it('failover-test: a line per shard with each proxy\'s time from the kill', () => {
    const round: RoundResult = {
      killed: [], at: 0, wallAt: 0, bystanders: [],
      shards: [{ shard: 's1', oldMaster: 'a:1', newMaster: 'a:2', epochBefore: 0, epochAfter: 1, writesRefused: false, completedMs: 1500, write: probe('writes s1'), read: null, agent: null, proxies }],
    };
    const text = renderFailoverEvent({ type: 'round', n: 2, round, minReplicasToWrite: 1, failovers: [] });
    expect(text).toContain('s1: every proxy sends its writes to a:2: 127.0.0.2:22121 1.42 s after the kill, 127.0.0.3:22121 1.48 s after the kill');
  });

  it('bench failover: each run names every proxy, the summary gives each one\'s median and max', () => {
    const run = (n: number, ms: number[]): BenchFailoverRun => ({
      run: n, killed: 'a:1', newMaster: 'a:2', writeGapMs: 1400, noreplicas: 0, completedMs: 1500, failovers: 1, agent: null, write: probe('writes s1'), othersGapMs: null,
      proxies: proxies.map((p, i) => ({ ...p, followedMs: ms[i]! })),
    });
    const runs = [run(1, [1400, 1500]), run(2, [1600, 1700])];
    expect(benchFailoverRow(runs[0]!)).toContain('every proxy followed: 127.0.0.2:22121 1.40 s, 127.0.0.3:22121 1.50 s');
    const summary = benchFailoverSummary({
      machine: { cpu: 'x', cores: 2 }, shard: 's1', runs,
      summary: {
        writeGapMs: { median: 1400, max: 1400 }, agentServingMs: null, completedMs: { median: 1500, max: 1500 },
        proxiesFollowMs: [{ listen: '127.0.0.2:22121', median: 1500, max: 1600 }, { listen: '127.0.0.3:22121', median: 1600, max: 1700 }],
      },
    });
    expect(summary).toContain('proxy 127.0.0.2:22121: kill -> its writes on the new master: median 1.50 s, max 1.60 s');
    expect(summary).toContain('proxy 127.0.0.3:22121: kill -> its writes on the new master: median 1.60 s, max 1.70 s');
  });
});
