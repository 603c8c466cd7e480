import type { Topology } from '../../topology/index.js';

/** Shows live status until Ctrl-C (SIGINT) or SIGTERM, then resolves so the caller can stop the stack. */
export async function watchStatus(topo: Topology, host: string | undefined): Promise<void> {
  type Render = (t: Topology, host?: string) => Promise<string>;
  let render: Render | null = null;
  try {
    // ops/status-text exports statusText(topo, host); resolved at run time so this file builds on its own.
    const mod = '../../ops/status-text.js';
    render = ((await import(mod)) as { statusText: Render }).statusText;
  } catch {
    render = null;
  }
  await new Promise<void>((resolve) => {
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
    const stop = () => {
      clearInterval(timer);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
