// One client of the matrix (test/integration/clients.test.ts); see python_client.py for the protocol.
// argv: LIB MODE PORT JOB.json, LIB ioredis | node-redis.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const [lib, mode, portArg, jobFile] = process.argv.slice(2);
const port = Number(portArg);
const job = JSON.parse(readFileSync(jobFile, 'utf8'));
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const require = createRequire(import.meta.url);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let client;
let version;
if (lib === 'ioredis') {
  const { Redis } = await import('ioredis');
  version = require('ioredis/package.json').version;
  if (mode === 'defaults') {
    // Defaults, except that a command may not wait forever for a connection that never becomes ready.
    client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, retryStrategy: (n) => (n > 3 ? null : 50) });
  } else {
    // INFO (ready check) and CLIENT SETINFO close the connection; reconnect and resend are ioredis's defaults.
    client = new Redis({ port, host: '127.0.0.1', enableReadyCheck: false, disableClientInfo: true });
  }
  client.on('error', () => {});
} else {
  const { createClient } = await import('redis');
  version = require('redis/package.json').version;
  const base = { socket: { host: '127.0.0.1', port, reconnectStrategy: (n) => (mode === 'defaults' && n > 3 ? new Error('gave up') : 50) } };
  // node-redis 6 opens with HELLO 3 (RESP3 is its default) and CLIENT SETINFO: both close the connection.
  client = createClient(mode === 'defaults' ? base : { ...base, RESP: 2, disableClientInfo: true });
  client.on('error', () => {});
}

const timeout = (p, ms) => Promise.race([p, sleep(ms).then(() => { throw new Error(`no answer in ${ms} ms`); })]);

if (mode === 'defaults') {
  try {
    if (lib === 'node-redis') await timeout(client.connect(), 5000);
    await timeout(client.set(job.keyA, 'defaults'), 5000);
    out({ ok: true, version });
  } catch (e) {
    out({ ok: false, error: `${e?.name}: ${e?.message}`, version });
  }
  process.exit(0);
}

const b = job.basic;
if (lib === 'node-redis') await client.connect();
await client.set(b.key, 'v1');
const got = await client.get(b.key);
let pipe;
if (lib === 'ioredis') {
  pipe = (await client.pipeline().set(b.pipeKey, 'p1').incr(b.counter).get(b.pipeKey).exec()).map(([e, v]) => (e ? String(e) : v));
} else {
  pipe = await client.multi().set(b.pipeKey, 'p1').incr(b.counter).get(b.pipeKey).execAsPipeline();
}
if (lib === 'ioredis') await client.mset(Object.fromEntries(b.mkeys.map((k) => [k, `m-${k}`])));
else await client.mSet(b.mkeys.map((k) => [k, `m-${k}`]));
const mget = lib === 'ioredis' ? await client.mget(b.mkeys) : await client.mGet(b.mkeys);
await client.del(b.tagged);
if (lib === 'ioredis') {
  await client.sadd(b.tagged[0], 'x');
  await client.sadd(b.tagged[1], 'y');
} else {
  await client.sAdd(b.tagged[0], 'x');
  await client.sAdd(b.tagged[1], 'y');
}
const union = (lib === 'ioredis' ? await client.sunion(b.tagged) : await client.sUnion(b.tagged)).sort();
out({ basic: { get: got, pipeline: pipe, mget, union, version } });

let i = 0;
while (!existsSync(job.stopFile)) {
  i++;
  for (const shard of ['A', 'B']) {
    const t = Date.now();
    try {
      await timeout(client.set(job[`key${shard}`], String(i)), 3000);
      out({ s: shard, t, ok: true });
    } catch (e) {
      out({ s: shard, t, ok: false, e: `${e?.name}: ${e?.message}`.slice(0, 200) });
    }
  }
  await sleep(5);
}
process.exit(0);
