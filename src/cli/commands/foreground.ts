import { stackStopped } from '../../runtime/index.js';
import type { Topology } from '../../topology/index.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Why the watch ended: a signal (the caller stops the stack), or `down` ran elsewhere (nothing left to stop). */
export type WatchEnd = 'signal' | 'stopped-elsewhere';

/**
 * Shows live status until Ctrl-C (SIGINT), SIGTERM or SIGHUP (the terminal closed), then resolves so the caller
 * can stop the stack: none of them may leave it running without its operator. The handlers are in place before
 * the first await, so no signal finds a moment without them. It also ends when `redis-shard down` stopped the
 * stack from another terminal: showing a dead stack forever would only hide that.
 */
export async function watchStatus(topo: Topology, host: string | undefined): Promise<WatchEnd> {
  let stop!: (why: WatchEnd) => void;
  const onSignal = () => stop('signal');
  const stopped = new Promise<WatchEnd>((resolve) => {
    stop = (why) => {
      for (const sig of SIGNALS) process.off(sig, onSignal);
      resolve(why);
    };
  });
  for (const sig of SIGNALS) process.on(sig, onSignal);
  type Render = (t: Topology, host?: string) => Promise<string>;
  const render: Render | null = (await import('../status-text.js')).statusText;
  let busy = false;
  const tick = async () => {
    const r = render;
    if (busy || r === null) return;
    if (stackStopped(topo, host)) return stop('stopped-elsewhere');
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
  const why = await stopped;
  clearInterval(timer);
  return why;
}
