/**
 * The agent's HTTP side on a live stack (ports 27200-27250): /metrics checked by promtool before and after a
 * kill -9, the failover counter / duration histogram / in-sync gauge across it, a real Prometheus scraping the
 * agent, the dashboard in a real browser (Debian's chromium via playwright-core), server-sent events replayed
 * after a reconnect, and a scrape while a sentinel is SIGSTOPped. One stack, one kill.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ourPid, redisClient, stopPid, waitFor } from '../../src/runtime/index.js';
import { sentinelPaths } from '../../src/topology/index.js';
import { upStack, type TestStack } from '../support/stack.js';
import { diagnose, proxyServers, redisPid, waitFailoverDone } from './agent-helpers.js';

const BASE = 27200;
const HTTP = `127.0.0.1:${BASE + 40}`;
const PROM = `127.0.0.1:${BASE + 50}`;
const ALERTS = resolve(import.meta.dirname, '../../docs/alerts.yml');
const SCREENSHOT = process.env.REDIS_SHARD_SCREENSHOT; // set to docs/dashboard.png to refresh the README's picture

let stack: TestStack;
let prom: ChildProcess | null = null;
let promDir = '';
let browser: Browser | null = null;

function httpGet(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((res, rej) => {
    const req = get(`http://${HTTP}${path}`, { headers }, (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (d: string) => (body += d));
      r.on('end', () => res({ status: r.statusCode ?? 0, headers: r.headers, body }));
    });
    req.on('error', rej);
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${path} timed out`)));
  });
}

/** Reads an SSE stream for `ms`, returning its messages. */
function readSse(lastEventId: string | null, ms: number): Promise<Array<{ id?: string; event: string; data: string }>> {
  return new Promise((res, rej) => {
    const out: Array<{ id?: string; event: string; data: string }> = [];
    let buf = '';
    const req = get(`http://${HTTP}/events`, { headers: lastEventId ? { 'last-event-id': lastEventId } : {} }, (r) => {
      r.setEncoding('utf8');
      r.on('data', (d: string) => {
        buf += d;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const m: { id?: string; event: string; data: string } = { event: 'message', data: '' };
          for (const line of block.split('\n')) {
            if (line.startsWith('id: ')) m.id = line.slice(4);
            else if (line.startsWith('event: ')) m.event = line.slice(7);
            else if (line.startsWith('data: ')) m.data += line.slice(6);
          }
          if (m.data) out.push(m);
        }
      });
    });
    req.on('error', rej);
    setTimeout(() => {
      req.destroy();
      res(out);
    }, ms);
  });
}

function promtoolCheckMetrics(text: string): Promise<string> {
  return new Promise((res, rej) => {
    const p = execFile('promtool', ['check', 'metrics'], (err, stdout, stderr) => (err ? rej(new Error(`promtool: ${stdout}${stderr}`)) : res(stdout + stderr)));
    p.stdin!.end(text);
  });
}

/** The value of one sample in a metrics text (null when absent). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | null {
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const ls = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => ls[k] === v)) return Number(m[4]);
  }
  return null;
}

async function scrape(): Promise<string> {
  const r = await httpGet('/metrics');
  expect(r.status).toBe(200);
  return r.body;
}

async function promQuery(q: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const r = await fetch(`http://${PROM}/api/v1/query?query=${encodeURIComponent(q)}`);
  const j = (await r.json()) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
  if (j.status !== 'success') throw new Error(`PromQL ${q}: ${JSON.stringify(j)}`);
  return j.data.result;
}

// The kill -9 that every post-failover check looks at, done once (by whichever test first needs it).
interface Failover {
  old: string;
  next: string;
  /** When this test saw the proxy config switch s1 (epoch ms). */
  switchedAt: number;
  before: string;
  sseIdBefore: string;
  inSyncSamples: Array<{ inSync: number | null; target: string | null; elected: string | null }>;
}
let failover: Promise<Failover> | null = null;
let page: Page | null = null;

function causeFailover(): Promise<Failover> {
  failover ??= (async () => {
    const topo = stack.topo;
    const old = proxyServers(topo).s1!;
    const before = await scrape();
    const reset = await readSse(null, 300);
    const sseIdBefore = reset.find((m) => m.event === 'reset')!.id!;
    // Some traffic through the proxy, so its request counters have something to carry across the restart.
    const c = redisClient(topo.proxy.listen, null, { timeoutMs: 1000 });
    for (let i = 0; i < 200; i++) await c.set(`observe:${i}`, String(i));
    c.disconnect();
    await waitFor(async () => ((sample(await scrape(), 'redis_shard_nutcracker_server_requests_total', { shard: 's1' }) ?? 0) >= 50 ? true : undefined), {
      timeoutMs: 5000, intervalMs: 200, what: 'nutcracker stats to count the requests',
    });
    const inSyncSamples: Failover['inSyncSamples'] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const t = await scrape();
        const target = t.match(/redis_shard_proxy_target_info\{shard="s1",addr="([^"]+)"\} 1/)?.[1] ?? null;
        const elected = t.match(/redis_shard_elected_master_info\{shard="s1",addr="([^"]+)"\} 1/)?.[1] ?? null;
        inSyncSamples.push({ inSync: sample(t, 'redis_shard_proxy_in_sync', { shard: 's1' }), target, elected });
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    process.kill(redisPid(topo, old), 'SIGKILL');
    const switchedAt = await waitFor(() => (proxyServers(topo).s1 !== old ? Date.now() : undefined), { timeoutMs: 30_000, intervalMs: 5, what: 'the proxy config to switch s1' });
    const next = await waitFailoverDone(topo, 's1', old);
    await new Promise((r) => setTimeout(r, 300));
    sampling = false;
    await sampler;
    return { old, next, switchedAt, before, sseIdBefore, inSyncSamples };
  })();
  return failover;
}

beforeAll(async () => {
  stack = await upStack(BASE, { agent: { http: { listen: HTTP } } } as never);
  await waitFor(async () => ((await httpGet('/metrics').catch(() => null))?.status === 200 ? true : undefined), { timeoutMs: 10_000, intervalMs: 100, what: 'the agent to serve /metrics' });
  // A real Prometheus, on its own port and temp dir, scraping the agent every second with our alert rules.
  promDir = mkdtempSync(join(tmpdir(), 'redis-shard-prom-'));
  writeFileSync(
    join(promDir, 'prometheus.yml'),
    `global: {scrape_interval: 1s, evaluation_interval: 1s}\nrule_files: [${JSON.stringify(ALERTS)}]\nscrape_configs:\n  - job_name: redis-shard\n    static_configs: [{targets: ['${HTTP}']}]\n`,
  );
  prom = spawn('prometheus', [`--config.file=${join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(promDir, 'data')}`, `--web.listen-address=${PROM}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let promLog = '';
  prom.stderr!.on('data', (d: Buffer) => (promLog = (promLog + d.toString()).slice(-4000)));
  await waitFor(async () => ((await promQuery('up{job="redis-shard"} == 1').catch(() => [])).length === 1 ? true : undefined), {
    timeoutMs: 30_000, intervalMs: 250, what: `Prometheus to scrape the agent (${promLog})`,
  });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
}, 180_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  if (prom?.pid) await stopPid(prom.pid, { graceMs: 3000 }).catch(() => {});
  if (promDir) rmSync(promDir, { recursive: true, force: true });
  await stack?.stop();
}, 60_000);

describe('agent http', () => {
  it('serves /metrics that promtool accepts, with both shards in sync', async () => {
    const text = await scrape();
    await promtoolCheckMetrics(text);
    for (const shard of ['s1', 's2']) {
      expect(sample(text, 'redis_shard_proxy_in_sync', { shard })).toBe(1);
      expect(sample(text, 'redis_shard_elected_master_votes', { shard })).toBe(3);
    }
    expect(sample(text, 'redis_shard_sentinel_up', { sentinel: stack.topo.sentinel.instances[0]! })).toBe(1);
    // Read-only: anything but GET/HEAD is refused.
    const r = await fetch(`http://${HTTP}/metrics`, { method: 'POST' });
    expect(r.status).toBe(405);
  });

  it('counts connections nutcracker closed for an unsupported command, from its log', async () => {
    const c = redisClient(stack.topo.proxy.listen, null, { timeoutMs: 1000 });
    await expect(c.call('KEYS', '*')).rejects.toThrow();
    c.disconnect();
    await waitFor(async () => (sample(await scrape(), 'redis_shard_proxy_unsupported_command_closes_total', { command: 'KEYS' }) === 1 ? true : undefined), {
      timeoutMs: 5000, intervalMs: 200, what: 'the unsupported KEYS to be counted',
    });
    // The dashboard's state carries the same count `status` prints (its window of nutcracker's log).
    const state = JSON.parse((await httpGet('/api/state')).body) as { status: { clientRejections: { commands: Array<{ command: string; count: number }> } } };
    expect(state.status.clientRejections.commands).toContainEqual(expect.objectContaining({ command: 'KEYS', count: 1 }));
  });

  it('the dashboard shows both shards, then a new failover row within 2 s of the proxy switch', async () => {
    page = await browser!.newPage({ viewport: { width: 1400, height: 1300 } });
    await page.goto(`http://${HTTP}/`);
    await page.waitForSelector('.shard[data-shard="s1"]', { timeout: 10_000 });
    await page.waitForSelector('.shard[data-shard="s2"]', { timeout: 10_000 });
    expect(await page.locator('#failovers tbody tr[data-shard="s1"]').count()).toBe(0);
    // The page notes when the served failover row first appears (same machine, same clock as this test).
    await page.evaluate(() => {
      const w = window as unknown as { rowAt: number | null };
      w.rowAt = null;
      new MutationObserver(() => {
        if (w.rowAt === null && document.querySelector('#failovers tbody tr[data-shard="s1"][data-serving="true"]')) w.rowAt = Date.now();
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    });
    const f = await causeFailover();
    const rowAt = await page
      .waitForFunction(() => (window as unknown as { rowAt: number | null }).rowAt, undefined, { timeout: 10_000 })
      .then((h) => h.jsonValue() as Promise<number>)
      .catch(async (e: Error) => {
        throw new Error(`no failover row within 2 s of the proxy switch: ${e.message}\n${await diagnose(stack.topo)}`);
      });
    // The figure docs/observability.md quotes: how long after the proxy config switched the browser showed the row.
    console.log(`dashboard: failover row shown ${rowAt - f.switchedAt} ms after the proxy config switched`);
    expect(rowAt - f.switchedAt).toBeLessThan(2000);
    const row = await page.locator('#failovers tbody tr[data-shard="s1"]').first().innerText();
    expect(row).toContain(`${f.old} → ${f.next}`);
    // The row fills in: first +switch-master and the agent's measured durations arrive after serving.
    await page.waitForFunction(() => {
      const cells = document.querySelectorAll('#failovers tbody tr[data-shard="s1"] td');
      return cells.length === 12 && cells[8]!.textContent !== '' && cells[9]!.textContent !== '';
    }, undefined, { timeout: 10_000 });
    await page.waitForFunction((addr) => document.querySelector('.shard[data-shard="s1"]')?.textContent?.includes(`master ${addr}`) === true, f.next, { timeout: 10_000 });
    if (SCREENSHOT) await page.screenshot({ path: resolve(SCREENSHOT), fullPage: true });
  });

  it('failover counter, duration histogram and in-sync gauge move across a kill -9', async () => {
    const f = await causeFailover();
    const b = f.before;
    expect(sample(b, 'redis_shard_failovers_total', { shard: 's1', path: 'fast' })).toBe(0);
    expect(sample(b, 'redis_shard_failover_duration_seconds_count', { shard: 's1', phase: 'odown_to_serving' })).toBe(0);
    expect(sample(b, 'redis_shard_proxy_in_sync', { shard: 's1' })).toBe(1);
    const after = await waitFor(
      async () => {
        const t = await scrape();
        return sample(t, 'redis_shard_failover_duration_seconds_count', { shard: 's1', phase: 'odown_to_serving' }) === 1 ? t : undefined;
      },
      { timeoutMs: 25_000, intervalMs: 200, what: 'the failover duration to be observed' },
    );
    await promtoolCheckMetrics(after);
    const fast = sample(after, 'redis_shard_failovers_total', { shard: 's1', path: 'fast' })!;
    const majority = sample(after, 'redis_shard_failovers_total', { shard: 's1', path: 'majority' })!;
    expect(fast + majority).toBe(1);
    expect(sample(after, 'redis_shard_failovers_total', { shard: 's2', path: 'fast' })).toBe(0);
    expect(sample(after, 'redis_shard_failover_duration_seconds_count', { shard: 's1', phase: 'promotion_to_serving' })).toBe(1);
    const odown = sample(after, 'redis_shard_failover_duration_seconds_sum', { shard: 's1', phase: 'odown_to_serving' })!;
    expect(odown).toBeGreaterThan(0);
    expect(odown).toBeLessThan(10);
    expect(sample(after, 'redis_shard_proxy_in_sync', { shard: 's1' })).toBe(1);
    expect(sample(after, 'redis_shard_elected_master_info', { shard: 's1', addr: f.next })).toBe(1);
    expect(sample(after, 'redis_shard_instance_up', { shard: 's1', addr: f.old })).toBe(0);
    // supervise mode restarts nutcracker to apply a failover; apply mode haproxy (the default) never does.
    if (stack.topo.agent.apply === 'haproxy') expect(sample(after, 'redis_shard_proxy_restarts_total') ?? 0).toBe(0);
    else expect(sample(after, 'redis_shard_proxy_restarts_total')).toBeGreaterThanOrEqual(1);
    const last = sample(after, 'redis_shard_last_failover_timestamp_seconds', { shard: 's1' })!;
    expect(Math.abs(last * 1000 - f.switchedAt)).toBeLessThan(2000);
    // Its request counter kept counting (across a restart in supervise mode) instead of starting again at zero.
    expect(sample(after, 'redis_shard_nutcracker_server_requests_total', { shard: 's1' })!).toBeGreaterThanOrEqual(sample(b, 'redis_shard_nutcracker_server_requests_total', { shard: 's1' })! + 50);
    // Every sample during the failover says in-sync exactly when the proxy's target is the elected master.
    expect(f.inSyncSamples.length).toBeGreaterThan(3);
    for (const s of f.inSyncSamples) expect(s.inSync).toBe(s.target !== null && s.target === s.elected ? 1 : 0);
    expect(f.inSyncSamples.some((s) => s.elected === f.old)).toBe(true);
    expect(f.inSyncSamples.at(-1)).toEqual({ inSync: 1, target: f.next, elected: f.next });
  });

  it('a real Prometheus scrapes the agent and a PromQL query returns the failover', async () => {
    const f = await causeFailover();
    const result = await waitFor(
      async () => {
        const r = await promQuery('sum by (shard) (redis_shard_failovers_total{job="redis-shard"}) > 0');
        return r.length > 0 ? r : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 250, what: 'Prometheus to have the failover' },
    );
    expect(result).toHaveLength(1);
    expect(result[0]!.metric.shard).toBe('s1');
    expect(Number(result[0]!.value[1])).toBe(1);
    // The counter moves when the proxy switches, which on the fast path is ~1 s before the sentinels' majority names
    // the new master: a scrape in between has the failover and the old elected master. Wait for a later scrape.
    let seen: string[] = [];
    await waitFor(
      async () => {
        seen = (await promQuery('redis_shard_elected_master_info{shard="s1"}')).map((e) => e.metric.addr ?? '');
        return seen.length === 1 && seen[0] === f.next ? true : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 250, what: `Prometheus to have ${f.next} as s1's elected master` },
    ).catch(() => undefined);
    expect(seen).toEqual([f.next]);
  });

  it('server-sent events replay what a client missed (Last-Event-ID)', async () => {
    const f = await causeFailover();
    const replay = await readSse(f.sseIdBefore, 500);
    expect(replay.find((m) => m.event === 'reset')).toBeUndefined();
    const rows = replay.filter((m) => m.event === 'failover').map((m) => JSON.parse(m.data) as { shard: string; to: string; servingAt: number | null });
    expect(rows.some((r) => r.shard === 's1' && r.to === f.next && r.servingAt !== null)).toBe(true);
    expect(replay.some((m) => m.event === 'agent' && JSON.parse(m.data).event === 'config-applied')).toBe(true);
    // Ids are in order, each after the one given.
    const seqs = replay.filter((m) => m.id).map((m) => Number(m.id!.split('.')[1]));
    expect(seqs[0]).toBe(Number(f.sseIdBefore.split('.')[1]) + 1);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
  });

  it('a scrape while a sentinel is SIGSTOPped answers within its bound and names the sentinel', async () => {
    await causeFailover(); // not during the failover: that is what the other tests watch
    const s = stack.topo.sentinel.instances[2]!;
    const pid = ourPid(sentinelPaths(stack.topo.stateDir, s).pid, stack.topo.stateDir)!;
    expect(pid).not.toBeNull();
    process.kill(pid, 'SIGSTOP');
    try {
      // Concurrent scrapes share one snapshot (Prometheus scrapes this agent too): a scrape that joined one taken
      // before the SIGSTOP cannot see it, the next one must. Every one answers within the bound.
      let r: Awaited<ReturnType<typeof httpGet>> | null = null;
      for (let attempt = 1; attempt <= 3; attempt++) {
        const t0 = performance.now();
        r = await httpGet('/metrics');
        const ms = performance.now() - t0;
        console.log(`scrape ${attempt} with sentinel ${s} stopped: ${Math.round(ms)} ms`);
        expect(r.status).toBe(200);
        expect(ms).toBeLessThan(3000); // snapshot bound 2500 ms; each source 500 ms
        if (sample(r.body, 'redis_shard_scrape_source_timed_out', { source: 'sentinel', addr: s }) === 1) break;
      }
      r = r!;
      expect(sample(r.body, 'redis_shard_scrape_source_timed_out', { source: 'sentinel', addr: s })).toBe(1);
      expect(sample(r.body, 'redis_shard_scrape_source_up', { source: 'sentinel', addr: s })).toBe(0);
      expect(sample(r.body, 'redis_shard_sentinel_up', { sentinel: s })).toBe(0);
      expect(sample(r.body, 'redis_shard_scrape_source_timed_out', { source: 'sentinel', addr: stack.topo.sentinel.instances[0]! })).toBe(0);
      expect(String(r.headers['x-redis-shard-timed-out'])).toContain(`sentinel ${s}`);
      await promtoolCheckMetrics(r.body);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  });
});
