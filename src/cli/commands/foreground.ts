import type { Topology } from '../../topology/index.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Shows live status until Ctrl-C (SIGINT), SIGTERM or SIGHUP (the terminal closed), then resolves so the caller
 * can stop the stack: none of them may leave it running without its operator. The handlers are in place before
 * the first await, so no signal finds a moment without them.
 */
export async function watchStatus(topo: Topology, host: string | undefined): Promise<void> {
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => {
    stop = () => {
      for (const sig of SIGNALS) process.off(sig, stop);
      resolve();
    };
  });
  for (const sig of SIGNALS) process.on(sig, stop);
  type Render = (t: Topology, host?: string) => Promise<string>;
  const render: Render | null = (await import('../status-text.js')).statusText;
  let busy = false;
  const tick = async () => {
    const r = render;
    if (busy || r === null) return;
    busy = true;
    try {
      const text = await r(topo, host);
      process.stdout.write(`\x1b[2J\x1b[H${new Date().toISOString()}  (Ctrl-C stops the stack)\n${text}\n`);
    } catch (e) {
      process.stdout.write(`status unavailable: ${(e as Error).message}\n`);
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), 2000);
  void tick();
  await stopped;
  clearInterval(timer);
}
