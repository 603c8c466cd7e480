import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ringFromNutcrackerYml } from '../../src/hashring/index.js';
import { checkCall, REDIS_COMMANDS, type ParsedCall } from '../../src/ops/compat/index.js';
import { rawCall, startProxyFixture, type ProxyFixture, type RawOutcome } from '../support/proxy-fixture.js';
import { runCli, testDescription } from '../support/stack.js';

// Ports 21100-21112 belong to this file.
const BACKENDS = [21100, 21101];
/** A Redis outside the proxy that gets the same calls in the same order: what Redis itself answers. */
const REFERENCE = 21102;
const PROXY = 21110;
const STATS = 21111;

interface CommandEntry {
  /** "get", or "config|get" for a subcommand. */
  name: string;
  arity: number;
  firstKey: number;
  lastKey: number;
  step: number;
}

/** COMMAND's reply: every command, and every subcommand (field 10 of each entry). */
function commandEntries(reply: unknown[]): CommandEntry[] {
  const out: CommandEntry[] = [];
  const add = (e: unknown[]) => {
    out.push({ name: String(e[0]), arity: Number(e[1]), firstKey: Number(e[3]), lastKey: Number(e[4]), step: Number(e[5]) });
    if (Array.isArray(e[9])) for (const sub of e[9] as unknown[][]) add(sub);
  };
  for (const e of reply) add(e as unknown[]);
  return out;
}

/**
 * A call Redis itself would accept by arity: keys where COMMAND says keys are (tagged so that multi-key calls
 * share a shard), "1" everywhere else. `extra` adds one argument to a variadic command.
 */
function invocation(c: CommandEntry, extra: boolean): string[] {
  const words = c.name.split('|');
  const total = Math.abs(c.arity) + (extra && c.arity < 0 ? 1 : 0);
  const argv = [...words];
  while (argv.length < total) {
    const i = argv.length;
    const last = c.lastKey < 0 ? total + c.lastKey : c.lastKey;
    const isKey = c.firstKey > 0 && i >= c.firstKey && i <= last && (i - c.firstKey) % Math.max(1, c.step) === 0;
    argv.push(isKey ? `k:{t}:${i}` : '1');
  }
  return argv;
}

describe('compat: the checker against the real nutcracker, for every command of the installed Redis', () => {
  let fx: ProxyFixture;
  let entries: CommandEntry[];
  beforeAll(async () => {
    fx = await startProxyFixture({ backendPorts: BACKENDS, proxyPort: PROXY, statsPort: STATS, hashTag: '{}', extraPorts: [REFERENCE] });
    const direct = new Redis({ port: BACKENDS[0], lazyConnect: true, enableReadyCheck: false });
    try {
      await direct.connect();
      entries = commandEntries((await direct.call('COMMAND')) as unknown[]);
    } finally {
      direct.disconnect();
    }
  });
  afterAll(async () => {
    await fx?.stop();
  });

  it('COMMAND lists what the checker knows as Redis commands', () => {
    const top = entries.filter((e) => !e.name.includes('|'));
    expect(top.length).toBeGreaterThanOrEqual(200);
    expect(top.map((e) => e.name.toUpperCase()).filter((n) => !REDIS_COMMANDS.has(n))).toEqual([]);
  });

  it('every command and subcommand, at its minimal arity and with one argument more: the proxy closes, errs or answers as the checker says', async () => {
    const ring = ringFromNutcrackerYml(fx.yml);
    const cases = entries.flatMap((e) => (e.arity < 0 ? [invocation(e, false), invocation(e, true)] : [invocation(e, false)]));
    const results: Array<{ argv: string[]; proxy: RawOutcome; redis: RawOutcome | null; predicted: ReturnType<typeof checkCall> }> = [];
    // One connection per call (a closed one costs nothing), each call on empty data behind the proxy and in the
    // reference: carried-over data made the comparison depend on timing (SETEX/PSETEX/PEXPIRE with "1" leave a key
    // that expires between the proxy's call and the reference's, and the next call on that key then differs).
    const flushers = [...BACKENDS, REFERENCE].map((port) => new Redis({ port, lazyConnect: true, enableReadyCheck: false }));
    try {
      await Promise.all(flushers.map((f) => f.connect()));
      for (const argv of cases) {
        await Promise.all(flushers.map((f) => f.flushall()));
        const call: ParsedCall = { line: 0, name: argv[0]!.toUpperCase(), args: argv.slice(1).map((a) => Buffer.from(a)) };
        const predicted = checkCall(call, ring, true);
        const proxy = await rawCall(PROXY, argv);
        const redis = predicted.verdict === 'closes' ? null : await rawCall(REFERENCE, argv);
        results.push({ argv, proxy, redis, predicted });
      }
    } finally {
      for (const f of flushers) f.disconnect();
    }
    const show = (o: RawOutcome | null) => (o === null ? 'not sent' : `${o.kind}${'text' in o ? ` (${o.text.slice(0, 60)})` : ''}`);
    const mismatches = results
      .filter((r) => {
        if ((r.predicted.connection === 'closed') !== (r.proxy.kind === 'closed')) return true;
        // Forwarded: the proxy's answer is Redis's (an error where Redis errs, an answer where it answers).
        // PING and AUTH the proxy answers itself.
        const own = ['PING', 'AUTH'].includes(r.argv[0]!.toUpperCase());
        return r.predicted.connection === 'kept' && !own && r.redis !== null && r.proxy.kind !== r.redis.kind;
      })
      .map((r) => `${r.argv.join(' ')}: checker ${r.predicted.verdict}/${r.predicted.connection}, proxy ${show(r.proxy)}, redis ${show(r.redis)}`);
    expect(mismatches).toEqual([]);
    // Every outcome occurs: the comparison is not trivially true.
    const count = (k: RawOutcome['kind']) => results.filter((r) => r.proxy.kind === k).length;
    expect(count('closed')).toBeGreaterThan(100);
    expect(count('reply')).toBeGreaterThan(50);
    expect(count('error')).toBeGreaterThan(5);
    expect(count('timeout')).toBe(0);
    console.log(
      `compat differential: ${results.length} calls (${entries.length} commands and subcommands): ${count('closed')} closed, ${count('error')} error replies, ${count('reply')} answers; 0 mismatches`,
    );
  });

  it('compat through the CLI: a cross-shard call it flags really reads the wrong shard; exit 4 and --json', async () => {
    const ring = ringFromNutcrackerYml(fx.yml);
    // Varied keys: with fnv1a_64, set:0 .. set:99 all land on one shard of two.
    const keys = Array.from({ length: 1000 }, (_, i) => `set-${(i * 2654435761) % 4294967296}`);
    const a = keys.find((k) => ring.locate(Buffer.from(k)) === 0)!;
    const b = keys.find((k) => ring.locate(Buffer.from(k)) === 1)!;
    expect([a, b].every((k) => k !== undefined)).toBe(true);
    const c = new Redis({ port: PROXY, lazyConnect: true, enableReadyCheck: false, disableClientInfo: true });
    try {
      await c.connect();
      await c.sadd(a, 'from-a');
      await c.sadd(b, 'from-b');
      // Routed by its first key only: the other shard's set is missing from the union, without an error.
      expect((await c.sunion(a, b)).sort()).toEqual(['from-a']);
      await c.sadd('u:{42}:a', 'x');
      await c.sadd('u:{42}:b', 'y');
      expect((await c.sunion('u:{42}:a', 'u:{42}:b')).sort()).toEqual(['x', 'y']);
    } finally {
      c.disconnect();
    }
    // A description whose ring is the fixture's: shards s1, s2, fnv1a_64, ketama, hash_tag {}.
    const desc = join(fx.dir, 'redis-shard.yml');
    writeFileSync(desc, stringify(testDescription(21120, { proxy: { listen: '127.0.0.1:21150', hash: 'fnv1a_64', hash_tag: '{}' } })));
    const cmds = join(fx.dir, 'cmds.txt');
    writeFileSync(cmds, [`SUNION ${a} ${b}`, 'SUNION u:{42}:a u:{42}:b', 'HELLO 3', 'GET a', ''].join('\n'));
    const r = await runCli(['-c', desc, 'compat', '--json', cmds]);
    expect(r.code, r.stderr).toBe(4);
    const doc = JSON.parse(r.stdout) as { counts: Record<string, number>; failing: number; commands: Array<{ name: string; status: string }> };
    expect(doc.counts).toMatchObject({ ok: 1, 'same-shard': 1, 'cross-shard': 1, closes: 1 });
    expect(doc.failing).toBe(2);
    expect(doc.commands.map((x) => [x.name, x.status])).toEqual([['SUNION', 'fail'], ['HELLO', 'fail'], ['GET', 'ok']]);
    const ok = await runCli(['-c', desc, 'compat', '-'], { input: 'GET a\nSET b 1\n' });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('2 calls: 2 ok');
  });
});
