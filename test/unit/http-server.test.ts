import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import { memoryEventSink } from '../../src/agent/index.js';
import { AgentObserver, ObserveServer, type StatusFacts } from '../../src/http/index.js';
import { startAgentHttp } from '../../src/ops/index.js';
import { waitFor } from '../../src/runtime/index.js';
import { DEFAULT_DESCRIPTION, fromObject } from '../../src/topology/index.js';

// Ports from i12's range, one per test (a kept-alive connection to a stopped server is not reused); nothing
// listens on the stats address (a refused source).
let port = 27300;
let LISTEN = '';
const STATS = '127.0.0.1:27299';

let server: ObserveServer | null = null;
let observer: AgentObserver | null = null;
afterEach(async () => {
  observer?.stop();
  await server?.stop();
  server = null;
  observer = null;
});

async function start(snapshot: () => Promise<StatusFacts>, token: string | null, snapshotTimeoutMs = 2500): Promise<void> {
  LISTEN = `127.0.0.1:${++port}`;
  observer = new AgentObserver({ shards: ['s1'], sentinelCount: 3, stats: STATS, pool: 'p', proxyLog: null, eventsFile: null, snapshot, snapshotTimeoutMs });
  server = new ObserveServer(observer, { listen: LISTEN, token });
  await server.start();
}

const never = () => new Promise<StatusFacts>(() => {});

describe('agent http server', () => {
  it('requires the token when one is set: Bearer, or Basic with it as password', async () => {
    await start(never, 's3cret', 100);
    const url = `http://${LISTEN}/api/failovers`;
    const no = await fetch(url);
    expect(no.status).toBe(401);
    expect(no.headers.get('www-authenticate')).toMatch(/^Basic/);
    expect((await fetch(url, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: 'Bearer s3cret' } })).status).toBe(200);
    const basic = `Basic ${Buffer.from('prometheus:s3cret').toString('base64')}`;
    expect((await fetch(url, { headers: { authorization: basic } })).status).toBe(200);
  });

  it('answers a scrape within the snapshot bound when the snapshot hangs, and says so', async () => {
    await start(never, null, 300);
    const t0 = performance.now();
    const r = await fetch(`http://${LISTEN}/metrics`);
    const ms = performance.now() - t0;
    const text = await r.text();
    expect(r.status).toBe(200);
    expect(ms).toBeLessThan(1500);
    expect(text).toContain('redis_shard_scrape_source_timed_out{source="status",addr="snapshot"} 1');
    expect(text).toContain(`redis_shard_scrape_source_up{source="nutcracker_stats",addr="${STATS}"} 0`);
    expect(r.headers.get('x-redis-shard-timed-out')).toBe('status snapshot');
  });

  it('serves the dashboard and uPlot, and refuses to change anything', async () => {
    await start(never, null, 100);
    const page = await fetch(`http://${LISTEN}/`);
    expect(await page.text()).toContain('<script src="dashboard.js">');
    const uplot = await fetch(`http://${LISTEN}/uplot.js`);
    expect(uplot.status).toBe(200);
    expect((await uplot.text()).length).toBeGreaterThan(20_000);
    expect((await fetch(`http://${LISTEN}/`, { method: 'DELETE' })).status).toBe(405);
    expect((await fetch(`http://${LISTEN}/nope`)).status).toBe(404);
  });
});

describe('startAgentHttp', () => {
  it('logs a taken address once, keeps the agent going, and binds once it is free', async () => {
    const addr = '127.0.0.1:27399';
    const blocker = createServer().listen(27399, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    const topo = fromObject({ ...DEFAULT_DESCRIPTION, stateDir: '/nonexistent/i12', agent: { http: { listen: addr } } }, null, '/tmp');
    const sink = memoryEventSink();
    const h = startAgentHttp(topo, sink, { rebindMs: 100 });
    try {
      await waitFor(() => (sink.events.some((e) => e.event === 'http-failed') ? true : undefined), { timeoutMs: 3000, intervalMs: 20, what: 'http-failed' });
      expect(sink.lines.join('\n')).toMatch(/cannot serve metrics and dashboard on 127\.0\.0\.1:27399: .*EADDRINUSE.*retrying/);
      // The tee still passes the agent's events on to the file sink.
      h.events.emit('config-applied', { path: 'fast', changed: false, changes: [], restart: null });
      expect(sink.events.some((e) => e.event === 'config-applied')).toBe(true);
      await new Promise<void>((r) => blocker.close(() => r()));
      await waitFor(() => (sink.events.some((e) => e.event === 'http-listening') ? true : undefined), { timeoutMs: 3000, intervalMs: 20, what: 'http-listening' });
      expect(sink.events.filter((e) => e.event === 'http-failed')).toHaveLength(1);
      expect((await fetch(`http://${addr}/api/failovers`)).status).toBe(200);
    } finally {
      await h.stop();
      blocker.close();
    }
  });
});
