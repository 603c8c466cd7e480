import { existsSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { startAgent, type Agent } from '../../src/agent/index.js';
import { waitFor } from '../../src/runtime/index.js';
import { type Topology } from '../../src/topology/index.js';
import { topologyOnFakeSentinels, type FakeSentinelBehaviour } from '../support/fake-sentinel.js';
import { pickFreePorts, readEvents } from './agent-helpers.js';

// Ports 14000-14999 belong to this file (free ones picked per test). No Redis here: fake sentinels that
// answer nonsense, or nothing; the shard addresses are only written into configs, never connected to.
const BASE = 14000;

describe('agent given nonsense by its sentinels', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function setup(behaviours: Array<FakeSentinelBehaviour | 'closed'>): Promise<{ topo: Topology; agent: Agent; conf: string; before: string }> {
    const ports = await pickFreePorts(BASE + 100, BASE + 999, behaviours.length);
    const { topo, conf, before } = await topologyOnFakeSentinels(BASE, ports, behaviours, cleanup);
    const agent = startAgent(topo, { password: null });
    cleanup.push(() => agent.stop());
    return { topo, agent, conf, before };
  }

  it('garbage, silence and a refused connection: no majority, no action, keeps running, says why', async () => {
    const { topo, agent, conf, before } = await setup(['garbage', 'silent', 'closed']);
    await waitFor(() => agent.passCount >= 5, { timeoutMs: 15_000, what: '5 reconcile passes' });
    const ev = readEvents(topo);
    const garbage = ev.filter((e) => e.event === 'sentinel-garbage');
    // Three garbage events arrive at once; one is logged, the others counted (one per sentinel per second).
    expect(garbage.length).toBeGreaterThanOrEqual(1);
    expect(String(garbage[0]!.why)).toMatch(/not a port/);
    const holds = ev.filter((e) => e.event === 'reconcile-hold');
    expect(holds.map((e) => `${e.shard}:${e.reason}`).sort()).toEqual(['s1:no-majority', 's2:no-majority']);
    const detail = String(holds[0]!.detail);
    expect(detail).toMatch(/0 of 3 sentinels answered/);
    expect(detail).toMatch(/timed out|not connected/i);
    expect(readFileSync(conf, 'utf8')).toBe(before);
    expect(existsSync(topo.stagingFile)).toBe(false);
    expect(ev.some((e) => e.event === 'config-applied')).toBe(false);
  });

  it('a majority naming an address outside the shard: refused, nothing written', async () => {
    const stranger = `127.0.0.1:${BASE + 99}`;
    const { topo, agent, conf, before } = await setup([{ liar: stranger }, { liar: stranger }, 'closed']);
    await waitFor(() => agent.passCount >= 3, { timeoutMs: 15_000, what: '3 reconcile passes' });
    const holds = readEvents(topo).filter((e) => e.event === 'reconcile-hold');
    expect(holds.map((e) => e.reason)).toEqual(['not-an-instance', 'not-an-instance']);
    expect(String(holds[0]!.detail)).toContain(stranger);
    expect(readFileSync(conf, 'utf8')).toBe(before);
    expect(existsSync(topo.stagingFile)).toBe(false);
  });
});
