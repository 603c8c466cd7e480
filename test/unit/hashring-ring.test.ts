import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildRing, compareNames, ketamaPointCount, ringName, RingConfigError, type ServerSpec } from '../../src/hashring/index.js';

const b = (s: string) => Buffer.from(s, 'utf8');
const unnamed = (ports: number[], weight = 1): ServerSpec[] => ports.map((p) => ({ addr: `127.0.0.1:${p}`, weight }));

describe('ketama point counts', () => {
  it('gives 160 points to each of n equal servers, except where float32 rounding gives 156', () => {
    const at156 = [];
    for (let n = 1; n <= 100; n++) if (ketamaPointCount(1, n, n) === 156) at156.push(n);
    expect(at156).toEqual([25, 47, 50, 55, 61, 71, 94, 100]);
    for (let n = 1; n <= 100; n++) expect([156, 160]).toContain(ketamaPointCount(1, n, n));
  });

  it('gives points in proportion to weight, a multiple of 4', () => {
    const w = [1, 2, 3, 1];
    const counts = w.map((x) => ketamaPointCount(x, 7, 4));
    expect(counts).toEqual([88, 180, 272, 88]);
    for (const c of counts) expect(c % 4).toBe(0);
  });

  it('is what a 25-server ring is built with', () => {
    const ring = buildRing({ servers: unnamed(Array.from({ length: 25 }, (_, i) => 31000 + i)) });
    expect(ring.points).toEqual(new Array(25).fill(156));
  });

  it('can give a server no points at all when its weight is tiny', () => {
    expect(ketamaPointCount(1, 1001, 2)).toBe(0);
  });
});

describe('ring names and server order', () => {
  it('uses the name when given, else host:port as written, dropping port 11211, and "/path:" for sockets', () => {
    expect(ringName('10.0.0.1:6379', 's1')).toBe('s1');
    expect(ringName('10.0.0.1:6379')).toBe('10.0.0.1:6379');
    expect(ringName('cache.local:11211')).toBe('cache.local');
    expect(ringName('/var/run/redis.sock')).toBe('/var/run/redis.sock:');
  });

  it('orders names shorter first (in bytes), then by unsigned bytes', () => {
    const names = ['s10', 's2', 'b', 's1', 'a', 'ä'].map(b);
    names.sort(compareNames);
    expect(names.map((n) => n.toString())).toEqual(['a', 'b', 's1', 's2', 'ä', 's10']); // "ä" is 2 bytes, 0xC3 0xA4
  });

  it('places keys by name, whatever order the servers are given in', () => {
    const servers: ServerSpec[] = [
      { name: 'alpha', addr: '127.0.0.1:1', weight: 1 },
      { name: 'beta', addr: '127.0.0.1:2', weight: 2 },
      { name: 'gamma', addr: '127.0.0.1:3', weight: 1 },
    ];
    for (const distribution of ['ketama', 'modula'] as const) {
      const a = buildRing({ distribution, servers });
      const reversed = [...servers].reverse();
      const r = buildRing({ distribution, servers: reversed });
      expect(r.order.map((i) => r.names[i])).toEqual(['beta', 'alpha', 'gamma']);
      for (let n = 0; n < 2000; n++) {
        const key = b(`key:${n}`);
        expect(r.names[r.locate(key)]).toBe(a.names[a.locate(key)]);
      }
    }
  });

  it('does not depend on addresses when servers are named (a failover moves no key)', () => {
    const before = buildRing({ servers: [{ name: 's1', addr: '10.0.0.1:6379', weight: 1 }, { name: 's2', addr: '10.0.0.2:6379', weight: 1 }] });
    const after = buildRing({ servers: [{ name: 's1', addr: '10.0.0.9:6380', weight: 1 }, { name: 's2', addr: '10.0.0.2:6379', weight: 1 }] });
    for (let n = 0; n < 1000; n++) expect(after.locate(b(`k${n}`))).toBe(before.locate(b(`k${n}`)));
  });

  it('modula fills slots in name order, one per unit of weight', () => {
    // Given as [b (weight 1), a (weight 2)]: slots are a, a, b.
    const ring = buildRing({ distribution: 'modula', hash: 'crc32a', servers: [{ name: 'b', addr: 'h:2', weight: 1 }, { name: 'a', addr: 'h:1', weight: 2 }] });
    for (let n = 0; n < 500; n++) {
      const key = b(`x${n}`);
      const slot = ring.keyHash(key) % 3;
      expect(ring.locate(key)).toBe(slot < 2 ? 1 : 0);
    }
  });
});

describe('routing checked against nutcracker 0.5.0 (notes/twemproxy.md)', () => {
  it('pool A: three unnamed servers, defaults (fnv1a_64, ketama)', () => {
    const ring = buildRing({ servers: unnamed([6379, 6380, 6381]) });
    const where = (k: string) => ring.names[ring.locate(b(k))];
    expect(where('foo')).toBe('127.0.0.1:6381');
    for (const k of ['bar', 'apple', 'user:{42}:name', '']) expect(where(k)).toBe('127.0.0.1:6379');
    for (const k of ['key:1', 'user:{42}:email', 'ключ']) expect(where(k)).toBe('127.0.0.1:6380');
  });

  it('pool B: four named servers, hash_tag {}', () => {
    const ring = buildRing({
      hash: 'fnv1a_64',
      hashTag: '{}',
      servers: [1, 2, 3, 4].map((i) => ({ addr: `127.0.0.1:700${i}`, name: `server${i}`, weight: 1 })),
    });
    const where = (k: string) => ring.names[ring.locate(b(k))];
    for (const k of ['foo', 'apple']) expect(where(k)).toBe('server1');
    for (const k of ['bar', 'ключ']) expect(where(k)).toBe('server4');
    for (const k of ['key:1', 'user:{42}:name', 'user:{42}:email']) expect(where(k)).toBe('server3');
  });
});

describe('hash_tag', () => {
  const ring = buildRing({ hash: 'murmur', hashTag: '{}', servers: unnamed([1, 2, 3, 4, 5]) });
  const plain = buildRing({ hash: 'murmur', servers: unnamed([1, 2, 3, 4, 5]) });
  const h = (k: string) => ring.keyHash(b(k));
  const whole = (k: string) => plain.keyHash(b(k));

  it('hashes only the part between the first opener and the next closer', () => {
    expect(h('user:{42}:name')).toBe(whole('42'));
    expect(h('{42}')).toBe(whole('42'));
    expect(h('x{a}{b}')).toBe(whole('a'));
    expect(h('}{a}')).toBe(whole('a'));
    expect(h('{{a}}')).toBe(whole('{a'));
    expect(h('a{b}c}')).toBe(whole('b'));
  });

  it('hashes the whole key when the tag is empty or has no closing character', () => {
    for (const k of ['{}abc', 'abc{}', 'a{b', '{', '}', 'plain', '}{']) expect(h(k)).toBe(whole(k));
  });

  it('hashes an empty key as 0', () => {
    expect(ring.keyHash(b(''))).toBe(0);
    expect(plain.keyHash(b(''))).toBe(0);
  });

  it('works with binary tag contents and with the same character twice', () => {
    expect(ring.keyHash(Buffer.from([0x41, 0x7b, 0xff, 0x00, 0x7d]))).toBe(plain.keyHash(Buffer.from([0xff, 0x00])));
    const dollar = buildRing({ hash: 'murmur', hashTag: '$$', servers: unnamed([1, 2]) });
    expect(dollar.keyHash(b('x$ab$y$z'))).toBe(whole('ab'));
    expect(dollar.keyHash(b('x$$y'))).toBe(whole('x$$y'));
  });

  it('rejects a tag that is not two bytes', () => {
    expect(() => buildRing({ hashTag: '{', servers: unnamed([1, 2]) })).toThrow(RingConfigError);
    expect(() => buildRing({ hashTag: '«»', servers: unnamed([1, 2]) })).toThrow(/two bytes/);
  });
});

describe('weights and share', () => {
  it('predicts each server\'s share from ketama arcs, and keys follow it', () => {
    const ring = buildRing({ hash: 'fnv1a_64', servers: [{ name: 'a', addr: 'h:1', weight: 1 }, { name: 'b', addr: 'h:2', weight: 3 }] });
    const share = ring.share();
    expect(share[0]! + share[1]!).toBeCloseTo(1, 12);
    expect(share[0]).toBeGreaterThan(0.15);
    expect(share[0]).toBeLessThan(0.35);
    const counts = [0, 0];
    const N = 100_000;
    for (let i = 0; i < N; i++) counts[ring.locate(randomBytes(12))]!++;
    expect(Math.abs(counts[0]! / N - share[0]!)).toBeLessThan(0.01);
  });

  it('modula shares follow weights; random gives every server the same share whatever the weight', () => {
    const servers = [{ addr: 'h:1', weight: 1 }, { addr: 'h:2', weight: 3 }];
    expect(buildRing({ distribution: 'modula', servers }).share()).toEqual([0.25, 0.75]);
    expect(buildRing({ distribution: 'random', servers }).share()).toEqual([0.5, 0.5]);
  });
});

describe('random and degenerate pools', () => {
  it('random cannot locate a key, and says why', () => {
    const ring = buildRing({ distribution: 'random', servers: unnamed([1, 2]) });
    expect(() => ring.locate(b('foo'))).toThrow(/does not determine the server/);
  });

  it('a single server takes every key, whatever the distribution', () => {
    for (const distribution of ['ketama', 'modula', 'random'] as const) {
      expect(buildRing({ distribution, servers: unnamed([1]) }).locate(b('foo'))).toBe(0);
    }
  });

  it('rejects what twemproxy rejects', () => {
    expect(() => buildRing({ servers: [] })).toThrow(/at least one server/);
    expect(() => buildRing({ servers: [{ addr: 'h:1', weight: 0 }] })).toThrow(/weight/);
    expect(() => buildRing({ servers: [{ addr: 'h:1', weight: 1.5 }] })).toThrow(/weight/);
    expect(() => buildRing({ servers: [{ name: 'a', addr: 'h:1', weight: 1 }, { name: 'a', addr: 'h:2', weight: 1 }] })).toThrow(/same ring name/);
    expect(() => buildRing({ servers: [{ name: 'a b', addr: 'h:1', weight: 1 }] })).toThrow(/whitespace/);
    expect(() => buildRing({ hash: 'sha1' as never, servers: unnamed([1]) })).toThrow(/hash/);
    expect(() => buildRing({ distribution: 'rendezvous' as never, servers: unnamed([1]) })).toThrow(/distribution/);
  });

  it('cuts ketama point names at 272 bytes, as nc_ketama.c does', () => {
    // Every "<300-char name>-i" is cut to the same 272 bytes, so all 40 hashes of the server coincide.
    const ring = buildRing({ servers: [{ name: 'x'.repeat(300), addr: 'h:1', weight: 1 }, { name: 'y', addr: 'h:2', weight: 1 }] });
    const share = ring.share();
    expect(share[0]).toBeLessThan(0.2);
  });
});

describe('ketama lookup', () => {
  it('the bucketed search finds the same point as a plain binary search, at every edge', async () => {
    const { KetamaIndex } = await import('../../src/hashring/ketama.js');
    const plain = (v: Uint32Array, h: number) => {
      let lo = 0;
      let hi = v.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (v[mid]! < h) lo = mid + 1;
        else hi = mid;
      }
      return lo === v.length ? 0 : lo;
    };
    for (const n of [1, 3, 40, 2560, 40_000]) {
      const v = new Uint32Array(n);
      for (let i = 0; i < n; i++) v[i] = randomBytes(4).readUInt32LE(0);
      if (n > 3) v[1] = v[0]!; // equal neighbours
      v.sort();
      const index = new KetamaIndex(v);
      const probes = [0, 1, 0xffffffff, 0x80000000, ...v, ...Array.from(v, (x) => (x + 1) >>> 0), ...Array.from(v, (x) => (x - 1) >>> 0)];
      for (let i = 0; i < 2000; i++) probes.push(randomBytes(4).readUInt32LE(0));
      for (const h of probes) expect(index.search(h)).toBe(plain(v, h));
    }
  });
});
