import { describe, expect, it } from 'vitest';
import { memoryEventSink } from '../../src/agent/events.js';
import { SentinelEventRouter } from '../../src/agent/event-router.js';
import { FastSwitchGuard } from '../../src/agent/fast-switch-guard.js';
import type { FastPath } from '../../src/agent/fast-path.js';
import type { FailoverTimelines } from '../../src/agent/timeline.js';
import type { Topology } from '../../src/topology/index.js';

const topo = {
  shards: [{ name: 's1', instances: ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3'] }],
  sentinel: { failoverTimeout: 9000 },
} as unknown as Topology;

function router() {
  const calls: string[] = [];
  const events = memoryEventSink();
  const fast = {
    selected: (shard: string, from: string, to: string, t: number) => calls.push(`fast.selected ${shard} ${from}->${to} ${t}`),
    cancel: (shard: string, why: string) => calls.push(`fast.cancel ${shard} ${why}`),
  } as unknown as FastPath;
  const timelines = new Proxy({}, { get: (_t, name) => (...a: unknown[]) => calls.push(`timeline.${String(name)} ${a.join(' ')}`) }) as FailoverTimelines;
  const r = new SentinelEventRouter({
    topo,
    events,
    timelines,
    fast,
    prepare: (shard, to) => calls.push(`prepare ${shard} ${to}`),
    trigger: (why) => calls.push(`trigger ${why}`),
  });
  return { r, calls, events };
}

describe('SentinelEventRouter', () => {
  it('+selected-slave of a shard of ours starts the fast path; every message triggers a pass', () => {
    const { r, calls } = router();
    r.route('s:1', '+selected-slave', 'slave 127.0.0.1:2 127.0.0.1 2 @ s1 127.0.0.1 1');
    expect(calls).toContain('fast.selected s1 127.0.0.1:1->127.0.0.1:2 9000');
    expect(calls.at(-1)).toBe('trigger +selected-slave');
  });

  it('a replica outside the shard, or a shard not ours, never reaches the fast path (still a trigger)', () => {
    const { r, calls } = router();
    r.route('s:1', '+selected-slave', 'slave 127.0.0.1:9 127.0.0.1 9 @ s1 127.0.0.1 1');
    r.route('s:1', '+selected-slave', 'slave 127.0.0.1:2 127.0.0.1 2 @ other 127.0.0.1 1');
    expect(calls.filter((c) => c.startsWith('fast.selected'))).toEqual([]);
    expect(calls.filter((c) => c.startsWith('trigger'))).toHaveLength(2);
  });

  it('+odown of a master prepares the configs for every other instance; an abort or end cancels the fast path', () => {
    const { r, calls, events } = router();
    r.route('s:1', '+odown', 'master s1 127.0.0.1 1 #quorum 2/2');
    expect(calls.filter((c) => c.startsWith('prepare'))).toEqual(['prepare s1 127.0.0.1:2', 'prepare s1 127.0.0.1:3']);
    expect(events.events.find((e) => e.event === 'odown')).toMatchObject({ shard: 's1', state: '+', addr: '127.0.0.1:1' });
    r.route('s:1', '-failover-abort-not-elected', 'master s1 127.0.0.1 1');
    r.route('s:1', '+failover-end', 'master s1 127.0.0.1 1');
    expect(calls.filter((c) => c.startsWith('fast.cancel'))).toEqual(['fast.cancel s1 -failover-abort-not-elected', 'fast.cancel s1 +failover-end']);
  });

  it('logs garbage at most once a second per sentinel, counting what it left out', () => {
    const { r, events } = router();
    for (let i = 0; i < 5; i++) r.route('s:1', '+switch-master', 'not five words');
    const garbage = events.events.filter((e) => e.event === 'sentinel-garbage');
    expect(garbage).toHaveLength(1);
    expect(garbage[0]).toMatchObject({ sentinel: 's:1', suppressed: 0 });
  });
});

describe('FastSwitchGuard', () => {
  const hold = { shard: 's1', action: 'hold', reason: 'fast-switch-pending', detail: '', soon: true } as const;

  it('a pass that read the config before the switch (lower seq) cannot settle it; a later one can', () => {
    const g = new FastSwitchGuard();
    const seenBefore = g.seq;
    g.switched('s1', 'a', 'b');
    // The early pass saw the proxy on `a` and a majority still naming `a`: not a reason to drop the guard.
    g.settle([{ shard: 's1', action: 'none', addr: 'a', epoch: 1 }], { s1: 'a' }, seenBefore);
    expect(g.get('s1')).toMatchObject({ from: 'a', to: 'b' });
    // A pass that read the switched config while the majority still holds keeps it...
    g.settle([hold], { s1: 'b' }, g.seq);
    expect(g.get('s1')).toBeDefined();
    // ...and one where the majority has caught up settles it.
    g.settle([{ shard: 's1', action: 'none', addr: 'b', epoch: 2 }], { s1: 'b' }, g.seq);
    expect(g.get('s1')).toBeUndefined();
  });
});
