import { describe, expect, it } from 'vitest';
import { buildRing, parseServerLine, ringFromNutcrackerYml, RingConfigError } from '../../src/hashring/index.js';
import { locateInNutcracker, ringForTopology } from '../../src/ops/locate.js';
import { fromObject, DEFAULT_DESCRIPTION } from '../../src/topology/index.js';

const b = (s: string) => Buffer.from(s, 'utf8');

const TWO_POOLS = `
alpha:
  listen: 127.0.0.1:22121
  hash: murmur
  hash_tag: "{}"
  distribution: modula
  redis: true
  servers:
    - 127.0.0.1:7002:2 second
    - 127.0.0.1:7001:1 first
beta:
  listen: 127.0.0.1:22122
  servers:
    - 127.0.0.1:6379:1
    - 127.0.0.1:6380:1
    - 127.0.0.1:6381:1
`;

describe('ringFromNutcrackerYml', () => {
  it('reads hash, distribution, hash_tag, names and weights of the pool asked for', () => {
    const ring = ringFromNutcrackerYml(TWO_POOLS, 'alpha');
    expect(ring.pool).toBe('alpha');
    expect(ring.hash).toBe('murmur');
    expect(ring.distribution).toBe('modula');
    expect(ring.hashTag).toBe('{}');
    expect(ring.names).toEqual(['second', 'first']);
    expect(ring.servers.map((s) => [s.addr, s.weight])).toEqual([['127.0.0.1:7002', 2], ['127.0.0.1:7001', 1]]);
    const same = buildRing({ hash: 'murmur', distribution: 'modula', hashTag: '{}', servers: ring.servers });
    for (let i = 0; i < 500; i++) expect(ring.locate(b(`k${i}`))).toBe(same.locate(b(`k${i}`)));
  });

  it('defaults to fnv1a_64 and ketama, as nutcracker does', () => {
    const ring = ringFromNutcrackerYml(TWO_POOLS, 'beta');
    expect([ring.hash, ring.distribution, ring.hashTag]).toEqual(['fnv1a_64', 'ketama', undefined]);
    expect(ring.names[ring.locate(b('foo'))]).toBe('127.0.0.1:6381');
  });

  it('takes the only pool without being told, and asks when there are several', () => {
    const one = 'p:\n  listen: 127.0.0.1:1\n  servers:\n    - 127.0.0.1:2:1\n';
    expect(ringFromNutcrackerYml(one).pool).toBe('p');
    expect(() => ringFromNutcrackerYml(TWO_POOLS)).toThrow(/several pools \(alpha, beta\)/);
    expect(() => ringFromNutcrackerYml(TWO_POOLS, 'gamma')).toThrow(/no pool "gamma"/);
  });

  it('names the pool and key in its errors', () => {
    const bad = (body: string) => () => ringFromNutcrackerYml(`p:\n  listen: 127.0.0.1:1\n${body}`);
    expect(bad('  hash: sha1\n  servers: [127.0.0.1:2:1]\n')).toThrow(/p\.hash: "sha1"/);
    expect(bad('  distribution: rendezvous\n  servers: [127.0.0.1:2:1]\n')).toThrow(/p\.distribution/);
    expect(bad('  hash_tag: "{"\n  servers: [127.0.0.1:2:1]\n')).toThrow(/p\.hash_tag/);
    expect(bad('  servers: []\n')).toThrow(/p\.servers/);
    expect(bad('  servers: ["127.0.0.1:2:0"]\n')).toThrow(/p\.servers\[0\].*weight/);
    expect(bad('  servers: ["127.0.0.1:2:1 a", "127.0.0.1:3:1 a"]\n')).toThrow(RingConfigError);
    expect(() => ringFromNutcrackerYml('p: [')).toThrow(/not valid YAML/);
  });
});

describe('parseServerLine', () => {
  it('parses from the end, as nc_conf.c does', () => {
    expect(parseServerLine('10.0.0.1:6379:3 shard-a')).toMatchObject({ addr: '10.0.0.1:6379', weight: 3, name: 'shard-a' });
    expect(parseServerLine('10.0.0.1:6379:1')).toMatchObject({ addr: '10.0.0.1:6379', weight: 1 });
    expect(parseServerLine('10.0.0.1:6379:1')).not.toHaveProperty('name');
    expect(parseServerLine('/tmp/redis.sock:2 s')).toMatchObject({ addr: '/tmp/redis.sock', weight: 2, name: 's' });
    expect(parseServerLine('[::1]:6379:1')).toMatchObject({ addr: '[::1]:6379', weight: 1 });
  });

  it('explains what is wrong', () => {
    expect(parseServerLine('10.0.0.1:6379')).toMatch(/weight|port/);
    expect(parseServerLine('10.0.0.1:99999:1')).toMatch(/port/);
    expect(parseServerLine('10.0.0.1:6379:x')).toMatch(/weight/);
    expect(parseServerLine('10.0.0.1:6379:1 ')).toMatch(/name/);
  });
});

describe('ringForTopology', () => {
  it('is one server per shard, named after it, weighted by it, in shards order', () => {
    const topo = fromObject(
      { ...DEFAULT_DESCRIPTION, shards: [
        { name: 's1', master: '127.0.0.1:6666', instances: ['127.0.0.1:6666'], weight: 2 },
        { name: 's2', master: '127.0.0.1:7666', instances: ['127.0.0.1:7666'] },
      ], redis: { minReplicasToWrite: 0 } },
      null,
      '/tmp',
    );
    const ring = ringForTopology(topo);
    expect(ring.names).toEqual(['s1', 's2']);
    expect(ring.points).toEqual([212, 104]);
    const yml = `redis-shard:\n  listen: 127.0.0.1:22121\n  servers:\n    - 127.0.0.1:6666:2 s1\n    - 127.0.0.1:7666:1 s2\n`;
    const keys = Array.from({ length: 1000 }, (_, i) => b(`key:${i}`));
    const fromFile = locateInNutcracker('x.yml', yml, keys).keys;
    keys.forEach((k, i) => expect(topo.shards[ring.locate(k)]!.name).toBe(fromFile[i]!.ringName));
  });
});
