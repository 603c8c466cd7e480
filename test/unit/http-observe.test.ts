import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  AgentMetrics, EventHub, FailoverFeed, LogFollower, NutcrackerAccumulator, parseNutcrackerStats, sourcesOf,
  type NutcrackerReading, type StatusFacts,
} from '../../src/http/index.js';
import { fromObject, DEFAULT_DESCRIPTION, type DescriptionInput } from '../../src/topology/index.js';

const reading = (uptime: number, requests: number, errors = 0): NutcrackerReading => ({
  uptime,
  totalConnections: requests,
  clientConnections: 1,
  clientErrors: 0,
  forwardErrors: 0,
  servers: { s1: { requests, errors, timeouts: 0, eof: 0, serverConnections: 1 } },
});

describe('nutcracker counters across restarts', () => {
  it('adds deltas, and counts a restarted nutcracker from zero instead of going back', () => {
    const acc = new NutcrackerAccumulator();
    acc.add(reading(100, 1000), 0);
    acc.add(reading(101, 1500, 2), 1000);
    expect(acc.totals.servers.s1!.requests).toBe(1500);
    expect(acc.rates.s1).toBe(500);
    acc.add(reading(0, 30), 2000); // restarted: uptime went back
    expect(acc.totals.servers.s1!.requests).toBe(1530);
    expect(acc.totals.restartsSeen).toBe(1);
    acc.add(reading(1, 80), 3000);
    expect(acc.totals.servers.s1!.requests).toBe(1580);
    expect(acc.totals.servers.s1!.errors).toBe(2);
    // A counter that fell with the same uptime is a restart too (uptime is in whole seconds).
    acc.add(reading(1, 10), 3500);
    expect(acc.totals.servers.s1!.requests).toBe(1590);
    expect(acc.totals.restartsSeen).toBe(2);
  });

  it("parses nutcracker 0.5.0's stats document", () => {
    const doc = JSON.stringify({
      service: 'nutcracker', source: 'h', version: '0.5.0', uptime: 7, timestamp: 1, total_connections: 12, curr_connections: 4,
      pool: { client_eof: 3, client_err: 1, client_connections: 2, server_ejects: 0, forward_error: 5, fragments: 0,
        s1: { server_eof: 0, server_err: 4, server_timedout: 6, server_connections: 1, server_ejected_at: 0, requests: 99, request_bytes: 1, responses: 99, response_bytes: 1, in_queue: 0, in_queue_bytes: 0, out_queue: 0, out_queue_bytes: 0 } },
    });
    const r = parseNutcrackerStats(doc, 'pool');
    expect(r).toMatchObject({ uptime: 7, totalConnections: 12, clientConnections: 2, clientErrors: 1, forwardErrors: 5 });
    expect(r.servers.s1).toEqual({ requests: 99, errors: 4, timeouts: 6, eof: 0, serverConnections: 1 });
    expect(() => parseNutcrackerStats(doc, 'other')).toThrow(/no pool named other/);
  });
});

describe('failover feed', () => {
  const fastFailover = (feed: FailoverFeed, t0: number, from: string, to: string) => {
    for (const s of ['a', 'b', 'c']) feed.apply('sdown', { sentinel: s, state: '+', shard: 's1', role: 'master', addr: from }, t0 + 10);
    feed.apply('odown', { sentinel: 'a', state: '+', shard: 's1', role: 'master', addr: from }, t0 + 100);
    feed.apply('promotion-seen', { shard: 's1', from, to }, t0 + 350);
    feed.apply('config-applied', { path: 'fast', changed: true, changes: [{ shard: 's1', from, to }], restart: { stopMs: 1, startMs: 5, pid: 1 } }, t0 + 390);
    for (const s of ['a', 'b', 'c']) feed.apply('switch-seen', { sentinel: s, shard: 's1', from, to }, t0 + 1200);
    feed.apply('failover-timings', { shard: 's1', from, to, path: 'fast', odownToServingMs: 290.5, promotedToServingMs: 40.1, servingMs: -810 }, t0 + 1201);
  };

  it('makes one row per failover with its phases, and counts it once', () => {
    const feed = new FailoverFeed();
    const seen: string[] = [];
    const durations: Array<[number | null, number | null]> = [];
    let restarts = 0;
    feed.listen({ failover: (s, p) => seen.push(`${s}/${p}`), durations: (_s, a, b) => durations.push([a, b]), proxyRestart: () => restarts++ });
    fastFailover(feed, 1000, 'A', 'B');
    // A late +sdown of the old master from a slow sentinel is an echo, not a new failover.
    feed.apply('sdown', { sentinel: 'c', state: '+', shard: 's1', role: 'master', addr: 'A' }, 3000);
    const rows = feed.history();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ shard: 's1', from: 'A', to: 'B', path: 'fast', downAt: 1010, odownAt: 1100, promotedAt: 1350, servingAt: 1390, firstSwitchAt: 2200 });
    expect(rows[0]!.measured).toEqual({ odownToServingMs: 290.5, promotedToServingMs: 40.1, servingMsAfterFirstSwitch: -810 });
    expect(seen).toEqual(['s1/fast']);
    expect(durations).toHaveLength(1);
    expect(durations[0]![0]).toBeCloseTo(0.2905, 6);
    expect(durations[0]![1]).toBeCloseTo(0.0401, 6);
    expect(restarts).toBe(1);
    // The new master failing later is a second failover.
    fastFailover(feed, 20_000, 'B', 'C');
    expect(feed.history().map((r) => `${r.from}->${r.to}`)).toEqual(['A->B', 'B->C']);
    expect(seen).toEqual(['s1/fast', 's1/fast']);
  });

  it('rebuilds rows from past events without counting them again', () => {
    const feed = new FailoverFeed();
    let counted = 0;
    feed.listen({ failover: () => counted++, proxyRestart: () => counted++, durations: () => counted++ });
    feed.apply('config-applied', { path: 'majority', changed: true, changes: [{ shard: 's2', from: 'X', to: 'Y' }], restart: { stopMs: 1, startMs: 1, pid: 2 } }, 5000, true);
    expect(feed.history()).toMatchObject([{ shard: 's2', from: 'X', to: 'Y', path: 'majority', servingAt: 5000 }]);
    expect(counted).toBe(0);
  });
});

describe('server-sent events replay', () => {
  it('replays what came after Last-Event-ID, and resets for an unknown or too old id', () => {
    const hub = new EventHub(3);
    for (let i = 1; i <= 5; i++) hub.publish('failover', { i });
    expect(hub.since(`${hub.boot}.3`)!.map((m) => JSON.parse(m.data).i)).toEqual([4, 5]);
    expect(hub.since(`${hub.boot}.5`)).toEqual([]);
    expect(hub.since(`${hub.boot}.1`)).toBeNull(); // 2 fell out of the buffer
    expect(hub.since('otherboot.4')).toBeNull();
    expect(hub.since(undefined)).toBeNull();
  });
});

describe("following nutcracker's log", () => {
  it('returns only new complete lines, and starts over when the file shrank (rotated)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'i12-log-'));
    try {
      const f = join(dir, 'nutcracker.log');
      const l = new LogFollower(f);
      expect(l.read()).toEqual([]); // no file yet
      writeFileSync(f, 'a\nb\npart');
      expect(l.read()).toEqual(['a', 'b']);
      appendFileSync(f, 'ial\nc\n');
      expect(l.read()).toEqual(['partial', 'c']);
      expect(l.read()).toEqual([]);
      writeFileSync(f, 'new\n');
      expect(l.read()).toEqual(['new']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('agent.http in the description', () => {
  const base = (http: unknown): DescriptionInput => ({ ...DEFAULT_DESCRIPTION, agent: { http } as DescriptionInput['agent'] });
  it('defaults to loopback port 22180 in the default deployment', () => {
    expect(fromObject(DEFAULT_DESCRIPTION, null, '/x').agent.http).toEqual({ listen: '127.0.0.1:22180' });
  });
  it('refuses a non-loopback address without a token, naming the field', () => {
    expect(() => fromObject(base({ listen: '0.0.0.0:22180' }), '/x/r.yml', '/x')).toThrow(/agent\.http\.listen: 0\.0\.0\.0:22180 is not a loopback address.*tokenFile/);
    expect(fromObject(base({ listen: '0.0.0.0:22180', tokenEnv: 'TOK' }), '/x/r.yml', '/x').agent.http?.tokenEnv).toBe('TOK');
    expect(() => fromObject(base({ listen: '127.0.0.1:22121' }), '/x/r.yml', '/x')).toThrow(/agent\.http\.listen: address 127\.0\.0\.1:22121 is already used by proxy\.listen/);
  });
});

describe('metrics text', () => {
  const snap: StatusFacts = {
    at: 'x', healthy: false, problems: [],
    proxy: { listen: '127.0.0.1:1', up: true },
    sentinels: [{ addr: 'S1', up: true }, { addr: 'S2', up: false, error: 'timed out' }],
    shards: [{
      name: 's1', master: 'A', sentinelVotes: [{ addr: 'A', sentinels: 1 }], sentinelsAnswering: 1,
      sentinelViews: [{ sentinel: 'S1', master: 'A', configEpoch: 4, flags: ['master'] }, { sentinel: 'S2', master: null, configEpoch: null, flags: [] }],
      proxyTarget: 'B', problems: [],
      instances: [
        { addr: 'A', up: true, role: 'master', replicaOf: null, link: null, lagSeconds: null, lagBytes: null, replicasOnline: 1 },
        { addr: 'B', up: true, role: 'replica', replicaOf: 'A', link: 'up', lagSeconds: 0, lagBytes: 42, replicasOnline: null },
      ],
    }],
  };

  it('states the facts, names the timed-out source, and passes promtool check metrics', async () => {
    const m = new AgentMetrics(['s1']);
    m.listener.failover!('s1', 'fast', 1_700_000_000_000);
    m.listener.durations!('s1', 0.3, 0.04);
    const text = await m.render(snap, sourcesOf(snap), 0.5, 2);
    expect(text).toContain('redis_shard_proxy_in_sync{shard="s1"} 0');
    expect(text).toContain('redis_shard_failovers_total{shard="s1",path="fast"} 1');
    expect(text).toContain('redis_shard_replication_lag_bytes{shard="s1",addr="B"} 42');
    expect(text).toContain('redis_shard_sentinel_config_epoch{shard="s1",sentinel="S1"} 4');
    expect(text).toContain('redis_shard_scrape_source_timed_out{source="sentinel",addr="S2"} 1');
    expect(text).toContain('redis_shard_failover_duration_seconds_count{shard="s1",phase="odown_to_serving"} 1');
    const out = execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(out).toBe('');
  });
});
