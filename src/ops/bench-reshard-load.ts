/**
 * The client load of `bench reshard`, run in a worker thread: the reshard's copy keeps the main thread busy, and
 * a client on that thread would count the copy's turns of the event loop as write stalls.
 *
 * Each connection SETs a new key (never rewritten, so a lost write stays lost) and reads back the previous one,
 * through the proxy. A write whose reply is an error has an unknown outcome and is not counted as acknowledged.
 * Clients reconnect every 10 ms (a real client's backoff is its own choice; the bench measures the proxy's).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Redis } from 'ioredis';
import { mustParseAddress } from '../topology/index.js';

export interface LoadInput {
  addr: string;
  clients: number;
  tag: string;
}

export interface LoadResult {
  acked: string[];
  ops: number;
  errors: number;
  errorKinds: Record<string, number>;
  /**
   * Stalls over 20 ms: [start (epoch ms), duration ms], from the start of a write until a write of that client
   * succeeds (a failed write, the reconnect and the retry count as one stall).
   */
  slowWrites: Array<[number, number]>;
}

async function main(input: LoadInput): Promise<void> {
  const { host, port } = mustParseAddress(input.addr);
  const result: LoadResult = { acked: [], ops: 0, errors: 0, errorKinds: {}, slowWrites: [] };
  let stopped = false;
  const fail = (e: unknown) => {
    result.errors++;
    const kind = String((e as Error)?.message ?? e).replace(/[0-9]+/g, 'N').slice(0, 60);
    result.errorKinds[kind] = (result.errorKinds[kind] ?? 0) + 1;
  };
  const clients = Array.from({ length: input.clients }, () => {
    const c = new Redis({
      host, port, lazyConnect: true, enableReadyCheck: false, disableClientInfo: true, enableOfflineQueue: true,
      maxRetriesPerRequest: 0, connectTimeout: 10_000, commandTimeout: 10_000, retryStrategy: () => 10,
    });
    c.on('error', () => {});
    return c;
  });
  await Promise.all(clients.map((c) => c.connect()));
  const loop = async (c: Redis, ci: number) => {
    // Set at the start of a write and kept across failed ones: a stall ends only at a successful write.
    let stallFrom: { at: number; t: number } | null = null;
    for (let seq = 0; !stopped; seq++) {
      const k = `load:${input.tag}:${ci}:${seq}`;
      stallFrom ??= { at: Date.now(), t: performance.now() };
      try {
        await c.set(k, String(seq));
        result.acked.push(k);
        const took = performance.now() - stallFrom.t;
        if (took > 20) result.slowWrites.push([stallFrom.at, Math.round(took * 10) / 10]);
        stallFrom = null;
      } catch (e) {
        fail(e);
        // The connection was reset (the proxy restarted): the next write waits for the reconnect.
        if (c.status !== 'ready' && !stopped) await new Promise<void>((r) => c.once('ready', () => r()));
      }
      if (seq > 0) await c.get(`load:${input.tag}:${ci}:${seq - 1}`).catch(fail);
      result.ops++;
    }
  };
  const runs = clients.map((c, ci) => loop(c, ci));
  parentPort!.postMessage({ type: 'started' });
  await new Promise<void>((resolve) => parentPort!.once('message', () => resolve()));
  stopped = true;
  await Promise.all(runs);
  for (const c of clients) c.disconnect();
  parentPort!.postMessage({ type: 'result', result });
}

if (parentPort && workerData) void main(workerData as LoadInput);
