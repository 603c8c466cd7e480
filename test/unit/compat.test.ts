import { describe, expect, it } from 'vitest';
import { buildRing } from '../../src/hashring/index.js';
import { InvalidInputError } from '../../src/errors.js';
import { checkCall, checkCommands, compatReport, parseCommands, splitArgs } from '../../src/ops/compat/index.js';
import { loadTopology } from '../../src/topology/index.js';

const text = (bs: Buffer[]) => bs.map((b) => b.toString('latin1'));
const call = (line: string) => {
  const [name, ...args] = splitArgs(line);
  return { line: 1, name: name!.toString().toUpperCase(), args };
};
const ring = buildRing({ hash: 'fnv1a_64', distribution: 'ketama', hashTag: '{}', servers: [{ name: 's1', addr: 'a:1', weight: 1 }, { name: 's2', addr: 'b:1', weight: 1 }] });

describe('compat: reading commands', () => {
  it('splits arguments as redis-cli does', () => {
    expect(text(splitArgs(`set "a b" 'c d' "\\x41\\n" 'it\\'s' plain`))).toEqual(['set', 'a b', 'c d', 'A\n', "it's", 'plain']);
    expect(() => splitArgs('set "a')).toThrow(/unbalanced/);
    expect(() => splitArgs('set "a"b')).toThrow(/followed by a space/);
  });

  it('reads MONITOR output, skipping OK and script-internal lines', () => {
    const p = parseCommands('m', Buffer.from('OK\n1700000000.123456 [0 127.0.0.1:5000] "SET" "k\\"1" "v"\n1700000000.2 [0 lua] "GET" "x"\n1700000000.3 [0 unix:/s] "hello" "3"\n'));
    expect(p.format).toBe('monitor');
    expect(p.luaLines).toBe(1);
    expect(p.calls.map((c) => [c.line, c.name, text(c.args)])).toEqual([
      [2, 'SET', ['k"1', 'v']],
      [4, 'HELLO', ['3']],
    ]);
  });

  it('strips redis-cli and its options, and a prompt', () => {
    const p = parseCommands('f', Buffer.from('redis-cli -h 127.0.0.1 -p 22121 --raw get a\n127.0.0.1:22121> mget a b\n'));
    expect(p.calls.map((c) => [c.name, text(c.args)])).toEqual([['GET', ['a']], ['MGET', ['a', 'b']]]);
  });

  it('refuses an empty file, binary junk, and text without a single command, naming the source', () => {
    expect(() => parseCommands('empty.txt', Buffer.from('\n# only a comment\n'))).toThrow(/empty\.txt: no commands found/);
    expect(() => parseCommands('junk.bin', Buffer.from([0x53, 0x45, 0x54, 0x00, 0xff]))).toThrow(/junk\.bin: binary data \(byte 3 is NUL\)/);
    expect(() => parseCommands('latin.txt', Buffer.from([0x67, 0x65, 0x74, 0x20, 0xe9, 0x0a]))).toThrow(/not UTF-8 near byte [45]/);
    const topo = loadTopology({});
    expect(() => compatReport(topo, 'prose.txt', Buffer.from('greetings everyone\nthis is not a command list\n'))).toThrow(InvalidInputError);
    expect(() => compatReport(topo, 'prose.txt', Buffer.from('name,email\n'))).toThrow(/prose\.txt: none of its 1 lines starts with a Redis command/);
  });
});

describe('compat: verdicts', () => {
  it('unsupported, unknown and wrong-arity calls close the connection', () => {
    expect(checkCall(call('HELLO 3'), ring, true)).toMatchObject({ verdict: 'closes', closeReason: 'unsupported', connection: 'closed' });
    expect(checkCall(call('SETT a b'), ring, true)).toMatchObject({ verdict: 'closes', closeReason: 'unknown-command' });
    expect(checkCall(call('EXPIRE k 10 NX'), ring, true)).toMatchObject({ verdict: 'closes', closeReason: 'arity' });
    expect(checkCall(call('EXPIRE k 10'), ring, true)).toMatchObject({ verdict: 'ok' });
    expect(checkCall(call('PING hello'), ring, true)).toMatchObject({ verdict: 'closes', closeReason: 'arity' });
    expect(checkCall(call('EVAL s 0'), ring, true)).toMatchObject({ verdict: 'closes' });
    expect(checkCall(call('MSET a 1 b'), ring, true)).toMatchObject({ verdict: 'closes' });
    expect(checkCall(call('QUIT'), ring, true)).toMatchObject({ verdict: 'ok', connection: 'closed' });
  });

  it('multi-key calls: split per key, or routed by the first key and judged by where the keys lie', () => {
    expect(checkCall(call('MGET a b'), ring, true).verdict).toBe('split');
    expect(checkCall(call('MSET a 1 b 2'), ring, true).why).toMatch(/not atomic/);
    expect(checkCall(call('SUNION user:{42}:a user:{42}:b'), ring, true).verdict).toBe('same-shard');
    // Two keys the ring places apart.
    const keys = Array.from({ length: 50 }, (_, i) => `k${i}`);
    const a = keys.find((k) => ring.locate(Buffer.from(k)) === 0)!;
    const b = keys.find((k) => ring.locate(Buffer.from(k)) === 1)!;
    expect(checkCall(call(`SUNION ${a} ${b}`), ring, true)).toMatchObject({ verdict: 'cross-shard', why: expect.stringMatching(/first key only; 1 of its 2 keys/) });
    expect(checkCall(call(`EVAL s 2 ${a} ${b}`), ring, true).verdict).toBe('cross-shard');
    expect(checkCall(call(`ZUNIONSTORE ${a} 2 ${a} ${b}`), ring, true).verdict).toBe('cross-shard');
    expect(checkCall(call(`ZUNION 2 ${a} ${a}`), ring, true).why).toMatch(/numkeys argument/);
  });

  it('counts per command, failing first; exit-worthy calls counted', () => {
    const p = parseCommands('f', Buffer.from('GET a\nGET b\nHELLO 3\nMGET a b\n'));
    const r = checkCommands('f', p, ring, '{}');
    expect(r.commands.map((c) => [c.name, c.status, c.calls])).toEqual([['HELLO', 'fail', 1], ['MGET', 'warn', 1], ['GET', 'ok', 2]]);
    expect(r.failing).toBe(1);
    expect(r.counts).toEqual({ ok: 2, split: 1, 'same-shard': 0, 'cross-shard': 0, closes: 1 });
  });
});
