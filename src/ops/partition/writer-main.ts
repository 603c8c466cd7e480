/**
 * A client on a host of the lab (started there with `ip netns exec`): one sequential writer per shard, each
 * adding increasing integers to its own set through the proxy, recording each attempt (acknowledged or the
 * error). Commands on stdin, one per line: "stop" ends the writers and prints their attempts as one JSON line;
 * "read" reads every set back through the proxy and prints it as one JSON line. Own process, because a client
 * must sit on the side of a split its host is on, and the test process is not on any host.
 */
import { createInterface } from 'node:readline';
import { redisClient } from '../../runtime/index.js';
import type { Attempt, ShardWrites } from './checker.js';

interface Args {
  proxy: string;
  keys: Array<{ shard: string; key: string }>;
  /** Per-command timeout: an answer that takes longer is an error (indeterminate), as for most clients. */
  timeoutMs: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const password = process.env.REDIS_SHARD_WRITER_PASSWORD ?? null;
let stopping = false;
const writes: ShardWrites[] = args.keys.map((k) => ({ shard: k.shard, key: k.key, attempts: [] }));

function kind(e: unknown): string {
  const m = (e as Error)?.message ?? String(e);
  if (/timed? ?out/i.test(m)) return 'timeout';
  return (m.split(/[\s:]/)[0] || 'error').slice(0, 40);
}

async function writer(w: ShardWrites): Promise<void> {
  const c = redisClient(args.proxy, password, { timeoutMs: args.timeoutMs, reconnect: true });
  let n = 0;
  try {
    while (!stopping) {
      n++;
      let a: Attempt;
      try {
        await c.sadd(w.key, String(n));
        a = { n, t: Date.now(), err: null };
      } catch (e) {
        a = { n, t: Date.now(), err: kind(e) };
      }
      w.attempts.push(a);
      // A refused or dropped connection fails at once; do not spin through thousands of instant errors.
      if (a.err !== null) await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    c.disconnect();
  }
}

async function readBack(): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  const c = redisClient(args.proxy, password, { timeoutMs: 5000, reconnect: true });
  try {
    for (const w of writes) {
      const deadline = Date.now() + 20_000;
      for (;;) {
        try {
          out[w.shard] = (await c.smembers(w.key)).map(Number);
          break;
        } catch (e) {
          if (Date.now() > deadline) throw e;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    }
  } finally {
    c.disconnect();
  }
  return out;
}

const running = writes.map((w) => writer(w));
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  void (async () => {
    const cmd = line.trim();
    if (cmd === 'stop') {
      stopping = true;
      await Promise.all(running);
      process.stdout.write(`${JSON.stringify({ writes: writes.map((w) => ({ ...w, attempts: w.attempts.map((a) => [a.n, a.t, a.err]) })) })}\n`);
    } else if (cmd === 'read') {
      try {
        process.stdout.write(`${JSON.stringify({ present: await readBack() })}\n`);
      } catch (e) {
        process.stdout.write(`${JSON.stringify({ error: (e as Error).message })}\n`);
      }
    } else if (cmd === 'counts') {
      process.stdout.write(`${JSON.stringify({ counts: writes.map((w) => ({ shard: w.shard, attempts: w.attempts.length, acked: w.attempts.filter((a) => a.err === null).length })) })}\n`);
    }
  })();
});
rl.on('close', () => {
  stopping = true;
  void Promise.all(running).then(() => process.exit(0));
});
