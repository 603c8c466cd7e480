import { describe, expect, it } from 'vitest';
import { ClientProbe, GapTracker, classifyFailure, type ProbeConnection } from '../../src/ops/client-probe.js';
import { describeProbe, formatMs } from '../../src/cli/failover-text.js';
import { median } from '../../src/ops/bench-failover.js';

const reply = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' });

describe('classifyFailure', () => {
  it('tells the refusals of a master from the proxy failing to reach it', () => {
    expect(classifyFailure(reply('NOREPLICAS Not enough good replicas to write.'))).toBe('noreplicas');
    expect(classifyFailure(reply("READONLY You can't write against a read only replica."))).toBe('readonly');
    // What nutcracker 0.5.0 answers while the shard's server is dead (seen on a real stack).
    expect(classifyFailure(reply('ERR Connection refused'))).toBe('proxy');
    expect(classifyFailure(reply('ERR Connection reset by peer'))).toBe('proxy');
    expect(classifyFailure(reply('ERR Connection timed out'))).toBe('proxy');
    expect(classifyFailure(reply('LOADING Redis is loading the dataset in memory'))).toBe('server');
  });

  it('tells a dropped or refused connection from a command that timed out', () => {
    expect(classifyFailure(new Error('Connection is closed.'))).toBe('connection');
    expect(classifyFailure(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))).toBe('connection');
    expect(classifyFailure(new Error('Command timed out'))).toBe('timeout');
    expect(classifyFailure(Object.assign(new Error('connect ETIMEDOUT'), { code: 'ETIMEDOUT' }))).toBe('timeout');
  });
});

describe('GapTracker', () => {
  it('reports the longest stretch between consecutive successes, relative to the kill', () => {
    const g = new GapTracker(0);
    for (const t of [1, 2, 3]) g.success(t);
    g.setReference(3.5);
    g.failure(10, 'proxy', 'ERR Connection refused');
    g.failure(900, 'proxy', 'ERR Connection refused');
    g.failure(1000, 'connection', 'Connection is closed.');
    g.failure(1200, 'noreplicas', 'NOREPLICAS');
    g.success(1503);
    g.success(1504);
    const r = g.report('writes s1', 'write', 1510, 3);
    expect(r.longestGapMs).toBe(1500);
    expect(r.gapFromMs).toBe(-0.5);
    expect(r.gapToMs).toBe(1499.5);
    expect(r.open).toBe(false);
    expect(r.successes).toBe(5);
    expect(r.failures.proxy).toEqual({ count: 2, firstMs: 6.5, lastMs: 896.5, sample: 'ERR Connection refused' });
    expect(r.failures.noreplicas?.count).toBe(1);
    expect(r.failures.timeout).toBeUndefined();
    expect(r.windowMs).toBe(1510);
    expect(r).toMatchObject({ outages: 1, outageMs: 1500 });
  });

  it('counts separate outages, so a second failover after the first is visible', () => {
    const g = new GapTracker(0);
    g.success(1);
    g.setReference(1);
    g.success(2001); // first outage: 2000 ms
    g.success(2050); // 49 ms: a hiccup, not an outage
    g.success(3550); // second outage: 1500 ms
    const r = g.report('w', 'write', 3600, 1);
    expect(r).toMatchObject({ longestGapMs: 2000, outages: 2, outageMs: 3500, gapFromMs: 0, gapToMs: 2000 });
    expect(describeProbe(r)).toMatch(/^w: longest gap 2\.00 s \(\+0\.00 \.\. \+2\.00 s after the kill\) \(2 outages, 3\.50 s in all\); 4 ok/);
  });

  it('counts an outage still open at the end of the window, and a probe that never succeeded', () => {
    const g = new GapTracker(0);
    g.success(5);
    g.setReference(10);
    expect(g.report('w', 'write', 3000, 1)).toMatchObject({ longestGapMs: 2995, open: true, gapFromMs: -5, gapToMs: null });
    const never = new GapTracker(100);
    expect(never.lastSuccess()).toBeNull();
    expect(never.report('w', 'write', 600, 1)).toMatchObject({ longestGapMs: 500, open: true, successes: 0 });
  });
});

describe('ClientProbe', () => {
  /** A scripted connection: each call consumes the next outcome; the clock advances 1 ms per command. */
  function scripted(outcomes: Array<'ok' | Error>) {
    let clock = 0;
    let i = 0;
    let opened = 0;
    let closed = 0;
    const probe = new ClientProbe({
      name: 'writes s1',
      op: 'write',
      retryPauseMs: 0,
      now: () => clock,
      connect: (): ProbeConnection => {
        opened++;
        return {
          run: async () => {
            clock += 1;
            const o = outcomes[Math.min(i++, outcomes.length - 1)]!;
            if (o !== 'ok') throw o;
            return 'OK';
          },
          close: () => void closed++,
        };
      },
    });
    return { probe, counts: () => ({ opened, closed }), calls: () => i };
  }

  it('opens a fresh connection after a connection failure, and keeps it after an error reply', async () => {
    const s = scripted(['ok', new Error('Connection is closed.'), reply('ERR Connection refused'), reply('NOREPLICAS x'), 'ok', 'ok']);
    s.probe.start();
    s.probe.markReference(1);
    expect(await s.probe.waitSuccessAfter(4, 1000)).toBe(true);
    const r = await s.probe.stop();
    // One connection at start, one after "Connection is closed"; error replies keep the connection.
    expect(s.counts().opened).toBe(2);
    expect(r.connections).toBe(2);
    expect(r.failures.connection?.count).toBe(1);
    expect(r.failures.proxy?.count).toBe(1);
    expect(r.failures.noreplicas?.count).toBe(1);
    expect(r.longestGapMs).toBe(4);
  });

  it('waitSuccessAfter gives up after its timeout when nothing succeeds', async () => {
    const probe = new ClientProbe({
      name: 'w',
      op: 'write',
      retryPauseMs: 1,
      connect: () => ({ run: () => Promise.reject(new Error('connect ECONNREFUSED')), close: () => {} }),
    });
    probe.start();
    expect(await probe.waitSuccessAfter(0, 30)).toBe(false);
    const r = await probe.stop();
    expect(r.successes).toBe(0);
    expect(r.failures.connection!.count).toBeGreaterThan(1);
    // Every failed attempt was made on a connection of its own.
    expect(r.connections).toBeGreaterThanOrEqual(r.failures.connection!.count);
  });
});

describe('formatting', () => {
  it('describes a probe in one line, with each kind of failure and when it happened', () => {
    const g = new GapTracker(0);
    g.success(1);
    g.setReference(1.2);
    g.failure(20, 'proxy', 'ERR Connection refused');
    g.failure(1400, 'proxy', 'ERR Connection refused');
    g.failure(1450, 'noreplicas', 'NOREPLICAS');
    g.success(2201.2);
    expect(describeProbe(g.report('writes s1', 'write', 2201.5, 1))).toBe(
      'writes s1: longest gap 2.20 s (+0.00 .. +2.20 s after the kill); 2 ok, failed: 2 proxy could not reach the shard (+0.02 .. +1.40 s), 1 refused NOREPLICAS (+1.45 .. +1.45 s)',
    );
    expect(formatMs(85.4)).toBe('85 ms');
    expect(formatMs(1620)).toBe('1.62 s');
  });

  it('median of odd and even counts', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
  });
});
