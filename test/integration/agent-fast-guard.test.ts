import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/index.js';
import { renderNutcrackerYml } from '../../src/render/index.js';
import { loadTopology, proxyPaths } from '../../src/topology/index.js';
import { testDescription } from '../support/stack.js';

// Ports 24300-24399 belong to this file; nothing listens on them: the sentinels are never connected (the agent
// is not started), and the shard addresses only go into configs (checked by nutcracker -t, never dialled).
const BASE = 24300;

describe('the fast-switch guard', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('a pass that read the config before a fast switch does not clear the guard that switch set', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'redis-shard-guard-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'redis-shard.yml');
    writeFileSync(file, stringify(testDescription(BASE, { agent: { apply: 'staging', repointReplicas: false } })));
    const topo = loadTopology({ config: file });
    mkdirSync(proxyPaths(topo.stateDir).dir, { recursive: true });
    writeFileSync(proxyPaths(topo.stateDir).conf, renderNutcrackerYml(topo, {}, null));
    const s1 = topo.shards[0]!;
    const [from, to] = [s1.master, s1.instances[1]!];

    // Not started: passes are driven by hand, so the interleaving is exact.
    const agent = new Agent(topo, { password: null });
    cleanup.push(() => agent.stop());
    const { pass: a, guard } = agent as unknown as {
      pass: {
        run(): Promise<boolean>;
        observe(base: unknown): Promise<unknown>;
        fastSwitchTo(shard: string, from: string, to: string, at: number): Promise<void>;
      };
      guard: { get(shard: string): { from: string; to: string } | undefined };
    };
    // The fast path switches s1 while this pass is observing, i.e. after the pass read the config.
    const observe = a.observe.bind(a);
    let once = true;
    a.observe = async (base: unknown) => {
      if (once) {
        once = false;
        await a.fastSwitchTo('s1', from, to, performance.now());
        expect(guard.get('s1')).toMatchObject({ from, to });
      }
      return observe(base);
    };
    await a.run();
    // The pass saw the old config (s1 -> from) and the sentinels holding: that is no reason to drop a guard set
    // after its read. Without the guard, the next pass would let a pre-failover majority take s1 back to `from`.
    expect(guard.get('s1')).toMatchObject({ from, to });
    // A pass that reads the switched config and still sees the sentinels holding keeps it too (the rule as before).
    await a.run();
    expect(guard.get('s1')).toMatchObject({ from, to });
  });
});
