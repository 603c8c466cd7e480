import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { startAgent } from '../../src/agent/index.js';
import { renderNutcrackerYml } from '../../src/render/index.js';
import { waitFor } from '../../src/runtime/index.js';
import { loadTopology, proxyPaths } from '../../src/topology/index.js';
import { testDescription } from '../support/stack.js';
import { readEvents } from './agent-helpers.js';

// Ports 24200-24299 belong to this file. No Redis: sentinels that accept and never answer, so every reconcile
// pass lasts one command timeout (300 ms) and a pass is in flight most of the time.
const BASE = 24200;

function silentServer(port: number): Promise<Server> {
  const sockets = new Set<Socket>();
  const srv = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => {
      const close = srv.close.bind(srv);
      srv.close = ((cb?: (err?: Error) => void) => {
        for (const s of sockets) s.destroy();
        return close(cb);
      }) as typeof srv.close;
      resolve(srv);
    });
  });
}

describe('agent hazards', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('stop() waits for the pass in flight and leaves no timer of its own behind', async () => {
    const ports = [BASE + 21, BASE + 22, BASE + 23];
    for (const p of ports) {
      const srv = await silentServer(p);
      cleanup.push(() => new Promise<void>((r) => srv.close(() => r())));
    }
    const dir = mkdtempSync(join(tmpdir(), 'redis-shard-hazards-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'redis-shard.yml');
    const desc = testDescription(BASE, { agent: { apply: 'staging', reconcileIntervalMs: 100 } });
    desc.sentinel = { ...desc.sentinel, instances: ports.map((p) => `127.0.0.1:${p}`) };
    writeFileSync(file, stringify(desc));
    const topo = loadTopology({ config: file });
    mkdirSync(proxyPaths(topo.stateDir).dir, { recursive: true });
    writeFileSync(proxyPaths(topo.stateDir).conf, renderNutcrackerYml(topo, {}, null));

    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const agent = startAgent(topo, { password: null });
    let stopped = false;
    cleanup.push(() => (stopped ? undefined : agent.stop()));
    await agent.ready;
    const running = () => (agent as unknown as { running: boolean }).running;
    await waitFor(() => running(), { timeoutMs: 5000, intervalMs: 1, what: 'a reconcile pass in flight' });
    const n = agent.passCount;
    await agent.stop();
    stopped = true;
    // The pass that was running when stop() was called had ended before stop() returned...
    expect(running()).toBe(false);
    expect(agent.passCount).toBe(n + 1);
    // ...and "agent-stopped" is the last thing the agent logged.
    expect(readEvents(topo).at(-1)?.event).toBe('agent-stopped');
    // No timer of the agent's is left to keep a process (or a test) alive: not the 5 s bound of stop() itself.
    // (Closing sockets settle within a few ms; 2 s is far below that 5 s.)
    await waitFor(() => timers() <= before, { timeoutMs: 2000, intervalMs: 10, what: `the agent's timers to be gone (${timers()} now, ${before} before it started)` });
  });
});
