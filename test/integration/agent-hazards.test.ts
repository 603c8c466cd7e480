import { afterEach, describe, expect, it } from 'vitest';
import { startAgent } from '../../src/agent/index.js';
import { waitFor } from '../../src/runtime/index.js';
import { topologyOnFakeSentinels } from '../support/fake-sentinel.js';
import { readEvents } from './agent-helpers.js';

// Ports 24200-24299 belong to this file. No Redis: sentinels that accept and never answer, so every reconcile
// pass lasts one command timeout (300 ms) and a pass is in flight most of the time.
const BASE = 24200;

describe('agent hazards', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('stop() waits for the pass in flight and leaves no timer of its own behind', async () => {
    const ports = [BASE + 21, BASE + 22, BASE + 23];
    const { topo } = await topologyOnFakeSentinels(BASE, ports, ['silent', 'silent', 'silent'], cleanup);

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
