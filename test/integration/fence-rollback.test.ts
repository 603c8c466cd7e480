import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigApplier, sha256 } from '../../src/agent/apply.js';
import type { ProxySupervisor, RestartTimings } from '../../src/agent/proxy.js';
import { renderNutcrackerYml } from '../../src/render/index.js';
import { loadTopology, proxyPaths, type Topology } from '../../src/topology/index.js';
import { testDescription } from '../support/stack.js';

// Ports 31300-31349 belong to this file; nothing listens on them (no process is started: the supervised
// nutcracker is a stand-in whose start fails on the texts the test names). Runs `nutcracker -t` on the configs.
// Apply mode supervise rolls a config nutcracker will not start on back to the one it served before
// (apply.ts, backToServed). Not a fence: putting the unfenced config back while the sentinels' majority is
// missing would have the proxy acknowledge writes on a cut-off master (a start can fail under load: the old
// nutcracker's address not free again within 300 ms, or the new one not listening within 5 s).
const BASE = 31300;

/** A supervised nutcracker whose start fails on the configs in `failOn` (by sha256), and records every start. */
function standIn(failOn: Set<string>): { proxy: ProxySupervisor; started: string[] } {
  const started: string[] = [];
  const proxy = {
    current: () => null,
    runsConfig: () => false,
    stop: async () => {},
    restart: async (sha: string): Promise<RestartTimings> => {
      started.push(sha);
      if (failOn.has(sha)) throw new Error('127.0.0.1:31330 is held by a process that is not the supervised nutcracker');
      return { stopMs: 0, startMs: 0, pid: 4242 };
    },
  };
  return { proxy: proxy as unknown as ProxySupervisor, started };
}

describe('apply mode supervise: nutcracker does not start on a new config', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function setup(): { topo: Topology; conf: string; served: string } {
    const dir = mkdtempSync(join(tmpdir(), 'redis-shard-fence-rollback-'));
    dirs.push(dir);
    const file = join(dir, 'redis-shard.yml');
    writeFileSync(file, stringify(testDescription(BASE, { agent: { apply: 'supervise' } })));
    const topo = loadTopology({ config: file });
    const conf = proxyPaths(topo.proxyDir).conf;
    mkdirSync(proxyPaths(topo.proxyDir).dir, { recursive: true });
    const served = renderNutcrackerYml(topo, {}, null);
    writeFileSync(conf, served);
    return { topo, conf, served };
  }

  it('the config that fences a shard stays in place (nutcracker left stopped), not the unfenced one it served', async () => {
    const { topo, conf, served } = setup();
    const applier = new ConfigApplier(topo, null, null);
    const fenced = applier.edit({ text: served, sha: sha256(served) }, { s1: topo.agent.fence.address });
    expect(fenced).toContain(topo.agent.fence.address);
    const { proxy, started } = standIn(new Set([sha256(fenced)]));
    const supervised = new ConfigApplier(topo, null, proxy);
    supervised.noteServing(served);
    const r = await supervised.apply(fenced);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.stage).toBe('activate');
    expect(r.error.message).toMatch(/fences s1.*stays/);
    // The file fences s1; nothing was started on the unfenced config.
    expect(readFileSync(conf, 'utf8')).toBe(fenced);
    expect(started).toEqual([sha256(fenced)]);
    expect((await supervised.readBase()).fenced).toEqual(['s1']);
    // The fenced config is not marked rejected: the upkeep's next start on the file goes ahead.
    expect(await supervised.usable(fenced)).toEqual({ ok: true });
  });

  it('any other config is rolled back to the one it served, as before', async () => {
    const { topo, conf, served } = setup();
    const applier = new ConfigApplier(topo, null, null);
    const moved = applier.edit({ text: served, sha: sha256(served) }, { s1: topo.shards[0]!.instances[1]! });
    const { proxy, started } = standIn(new Set([sha256(moved)]));
    const supervised = new ConfigApplier(topo, null, proxy);
    supervised.noteServing(served);
    const r = await supervised.apply(moved);
    expect(r.ok).toBe(false);
    expect(readFileSync(conf, 'utf8')).toBe(served);
    expect(readFileSync(`${conf}.rejected`, 'utf8')).toBe(moved);
    expect(started).toEqual([sha256(moved), sha256(served)]);
    expect(existsSync(conf)).toBe(true);
  });
});
