import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { readState } from '../../src/reshard/index.js';
import { ourPid } from '../../src/runtime/index.js';
import { agentPaths, allProxies, haproxyPaths, loadTopology, proxyPaths, proxyView, type ApplyMode, type Topology } from '../../src/topology/index.js';
import { runCli, testDescription } from '../support/stack.js';
import {
  allKeys, client, editDescription, haproxyPids, loadAndSnapshot, proxyMasters, reshardStack, verifyPlacement, Workload, type ReshardJsonEvent,
} from './reshard-helpers.js';

// Ports 26500-26799 belong to this file (below the ephemeral range, 32768 on). Per stack (base 26500 mode haproxy, 26600 mode supervise): s1 +0..2,
// s2 +10..12, sentinels +20..22 on 127.0.0.1; two proxies on this host, 127.0.0.2:+30 and 127.0.0.3:+30 (stats +31,
// derived HAProxy frontends +40..42 on each proxy's address); the added s3 on 127.0.0.1 +45..47. 26700-26710: the
// refusal of a proxy on another host (nothing listens).
const HOST_A = '127.0.0.2';
const HOST_B = '127.0.0.3';

function twoProxies(base: number, apply: ApplyMode) {
  return {
    proxy: { hash: 'murmur' as const },
    proxies: [
      { listen: `${HOST_A}:${base + 30}`, stats: `${HOST_A}:${base + 31}` },
      { listen: `${HOST_B}:${base + 30}`, stats: `${HOST_B}:${base + 31}` },
    ],
    agent: { apply },
  };
}

/** Every key of every master answers EXISTS through this proxy, and every string key reads its value. */
async function reachableThrough(proxy: string, masters: Record<string, string>): Promise<string[]> {
  const bad: string[] = [];
  const c = client(proxy);
  try {
    for (const addr of Object.values(masters)) {
      const m = client(addr);
      const keys = await allKeys(m);
      for (let i = 0; i < keys.length; i += 500) {
        const part = keys.slice(i, i + 500);
        const p = c.pipeline();
        for (const k of part) p.exists(k);
        const r = (await p.exec()) ?? [];
        part.forEach((k, j) => {
          if (r[j]?.[0] || r[j]?.[1] !== 1) bad.push(`${k} (on ${addr}): EXISTS through ${proxy} gave ${String(r[j]?.[0] ?? r[j]?.[1])}`);
        });
        const strings = part.filter((k) => /^k:\d+:str$/.test(k));
        if (strings.length > 0) {
          const got = await c.mget(...strings);
          strings.forEach((k, j) => {
            if (got[j] !== `v${k.split(':')[1]}`) bad.push(`${k}: GET through ${proxy} gave ${got[j]}`);
          });
        }
      }
      m.disconnect();
    }
  } finally {
    c.disconnect();
  }
  return bad;
}

for (const [mode, base] of [['haproxy', 26500], ['supervise', 26600]] as const) {
  describe(`reshard with two proxies on this host (apply mode ${mode}): add a shard under load through both`, () => {
    const stack = reshardStack(base, twoProxies(base, mode));
    const a = (p: number) => `127.0.0.1:${base + p}`;

    it(`the cut switches both proxies in one pause${mode === 'haproxy' ? ' (after a kill -9 inside an earlier cut and --resume)' : ''}; both serve the new ring; no acknowledged write lost, no wrong read`, async () => {
      const s = stack();
      const [pa, pb] = allProxies(s.topo);
      const views: Topology[] = [proxyView(s.topo, pa!), proxyView(s.topo, pb!)];
      const before = await loadAndSnapshot(s);
      editDescription(s, (d) => {
        (d.shards as unknown[]).push({ name: 's3', master: a(45), instances: [a(45), a(46), a(47)] });
      });

      const plan = await s.cli(['reshard', '--plan', '--json']);
      expect(plan.code, plan.stderr).toBe(0);
      const p = JSON.parse(plan.stdout) as { change: { added: string[] }; cutMode: string; totalKeys: number };
      expect(p.change.added).toEqual(['s3']);
      expect(p.cutMode).toBe('pause');
      expect(p.totalKeys).toBeGreaterThan(500);
      expect(readState(s.topo.stateDir)).toBeNull();

      // Each writes through one proxy and reads back through the other: a write acknowledged through one proxy must
      // read back through the other at any moment, the cut included.
      const wa = new Workload(pa!.listen, { prefix: 'w:A:', readVia: pb!.listen });
      const wb = new Workload(pb!.listen, { prefix: 'w:B:', readVia: pa!.listen });
      wa.start();
      wb.start();
      let r;
      try {
        if (mode === 'haproxy') {
          // Killed (SIGKILL) inside the cut, holding both proxies' locks, with both nutcrackers stopped and each
          // proxy's successor HAProxy running beside its old one: nothing committed. Their agents start both
          // nutcrackers again on the old ring; --resume keeps one HAProxy per proxy and cuts again.
          const killed = await s.cli(['reshard', '--yes', '--json'], { env: { REDIS_SHARD_RESHARD_EXIT_AT: 'switching' } });
          expect(killed.code).not.toBe(0);
          expect(readState(s.topo.stateDir)?.phase).toBe('cutting');
          expect(haproxyPids(s.topo.stateDir)).toHaveLength(4);
          // status shows the reshard in progress with several proxies.
          const st = await s.cli(['status', '--json']);
          expect((JSON.parse(st.stdout) as { reshard: { phase: string } | null }).reshard?.phase, st.stderr).toBe('cutting');
          r = await s.cli(['reshard', '--resume', '--json']);
        } else {
          r = await s.cli(['reshard', '--yes', '--json']);
        }
      } finally {
        await new Promise((res) => setTimeout(res, 300));
        await wa.stop();
        await wb.stop();
      }
      expect(r.code, r.stderr + r.stdout).toBe(0);
      const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as ReshardJsonEvent);
      expect(events.some((e) => e.type === 'phase' && e.phase === 'done')).toBe(true);
      const cut = events.find((e) => e.type === 'cut')!;
      expect(cut.mode).toBe('pause');
      if (mode === 'haproxy') expect(events.some((e) => e.type === 'info' && /^switch of 2 proxies \(127\.0\.0\.2:\d+, 127\.0\.0\.3:\d+\)/.test(String(e.message)))).toBe(true);

      expect(wa.wrongReads).toEqual([]);
      expect(wb.wrongReads).toEqual([]);
      expect(await wa.finalCheck()).toEqual([]);
      expect(await wb.finalCheck()).toEqual([]);
      expect(wa.ops).toBeGreaterThan(100);
      expect(wb.ops).toBeGreaterThan(100);
      expect(readState(s.topo.stateDir)).toBeNull();

      for (const v of views) {
        // This proxy's live config: the new ring with s3, pointing at s3's master (through its own HAProxy frontend
        // in mode haproxy); every key on exactly the shard that ring names, content and expiry as before.
        expect(Object.keys(proxyMasters(v)).sort()).toEqual(['s1', 's2', 's3']);
        expect(proxyMasters(v).s3).toBe(a(45));
        if (mode === 'haproxy') {
          // s3's frontend on this proxy, as the edited description derives it.
          const edited = loadTopology({ config: s.file });
          const fe = proxyView(edited, allProxies(edited).find((x) => x.listen === v.proxy.listen)!).haproxyFrontends.s3!;
          expect(fe.startsWith(`${v.proxy.listen.split(':')[0]}:`)).toBe(true);
          expect(readFileSync(proxyPaths(v.proxyDir).conf, 'utf8')).toContain(`${fe}:1 s3`);
        }
        expect((await verifyPlacement(v, before, (k) => k.startsWith('w:'))).slice(0, 10)).toEqual([]);
        expect((await reachableThrough(v.proxy.listen, proxyMasters(v))).slice(0, 10)).toEqual([]);
        // Neither agent ever judged its proxy's config wrong along the way.
        const agentEvents = readFileSync(agentPaths(v.proxyDir).events, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type?: string; event?: string });
        expect(agentEvents.filter((e) => (e.type ?? e.event) === 'config-invalid')).toEqual([]);
      }
      if (mode === 'haproxy') {
        // Each proxy's successor HAProxy started beside its old one before the pause; both old ones are gone.
        const own = views.map((v) => ourPid(haproxyPaths(v.proxyDir).pid, s.topo.stateDir)).sort();
        expect(haproxyPids(s.topo.stateDir).sort()).toEqual(own);
      }
      const sent = client(a(20));
      expect(await sent.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 's3')).toEqual(['127.0.0.1', String(base + 45)]);
      sent.disconnect();
      console.log(`reshard add, two proxies (${mode} mode): cut pause ${String(cut.pauseMs)} ms, ${wa.ops}+${wb.ops} ops, max stall ${Math.round(Math.max(wa.maxStallMs, wb.maxStallMs))} ms`);

      // status keeps working with several proxies, and shows no reshard once it is done.
      const st = await s.cli(['status', '--json']);
      expect(st.stdout.length, st.stderr).toBeGreaterThan(0);
      const rep = JSON.parse(st.stdout) as { reshard: unknown; proxies: Array<{ listen: string; up: boolean }> };
      expect(rep.reshard).toBeNull();
      expect(rep.proxies.map((x) => [x.listen, x.up])).toEqual([[pa!.listen, true], [pb!.listen, true]]);
    }, 300_000);
  });
}

describe('reshard refuses a description with a proxy on another host', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('exit 2 before anything (plan, run, resume), naming the proxy and why; nothing created', async () => {
    dir = mkdtempSync(join(tmpdir(), 'redis-shard-test-26700-'));
    const file = join(dir, 'redis-shard.yml');
    writeFileSync(file, stringify(testDescription(26700, {
      proxy: { hash: 'murmur' },
      proxies: [{ listen: '127.0.0.2:26730' }, { listen: '10.255.255.1:26730' }],
    })));
    for (const args of [['reshard', '--plan'], ['reshard', '--yes'], ['reshard', '--resume']]) {
      const r = await runCli(['-c', file, ...args], { cwd: dir, timeoutMs: 30_000 });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/proxies\[1\] \(10\.255\.255\.1:26730\) runs on another host: reshard's cut stops every proxy.*only for proxies on this host.*nothing was changed/);
    }
    expect(existsSync(join(dir, 'state'))).toBe(false);
  }, 60_000);
});
