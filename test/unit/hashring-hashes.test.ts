import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HASH_FUNCTIONS, HASH_NAMES, hashKey } from '../../src/hashring/index.js';
import { md5Into, md5State } from '../../src/hashring/md5.js';

const b = (s: string) => Buffer.from(s, 'utf8');

describe('hash functions', () => {
  // twemproxy src/test_all.c (the same values as libmemcached tests/hash_results.h).
  const apple: Record<(typeof HASH_NAMES)[number], number> = {
    one_at_a_time: 2297466611,
    md5: 3195025439,
    crc16: 3662830516,
    crc32: 10542,
    crc32a: 2838417488,
    fnv1_32: 67176023,
    fnv1a_32: 280767167,
    fnv1_64: 473199127,
    fnv1a_64: 1488911807,
    hsieh: 3738850110,
    jenkins: 1442444624,
    murmur: 4142305122,
  };
  it.each(HASH_NAMES.map((h) => [h]))('%s of "apple" matches test_all.c', (h) => {
    expect(hashKey(h, b('apple'))).toBe(apple[h]);
  });

  it('covers all twelve of twemproxy 0.5.0', () => {
    expect([...HASH_NAMES].sort()).toEqual(Object.keys(apple).sort());
  });

  // Checked against nutcracker 0.5.0 (shared/notes/twemproxy.md); "ключ" has bytes >= 0x80 (signed chars).
  it.each([
    ['foo', 4275688823],
    ['bar', 322520602],
    ['key:1', 2519685833],
    ['ключ', 2846718081],
  ])('fnv1a_64(%s) = %d', (k, v) => {
    expect(hashKey('fnv1a_64', b(k))).toBe(v);
  });

  it('reads bytes >= 0x80 as signed chars in fnv1a_64 (an unsigned reading gives another value)', () => {
    const key = b('ключ');
    let unsigned = 0x84222325;
    for (const byte of key) unsigned = Math.imul(unsigned ^ byte, 0x1b3);
    expect(hashKey('fnv1a_64', key)).not.toBe(unsigned >>> 0);
  });

  it('every hash returns a uint32 and honours the byte range it is given', () => {
    for (let n = 0; n < 200; n++) {
      const key = randomBytes(n % 41);
      const padded = Buffer.concat([randomBytes(3), key, randomBytes(5)]);
      for (const h of HASH_NAMES) {
        const v = hashKey(h, key);
        expect(Number.isInteger(v) && v >= 0 && v <= 0xffffffff).toBe(true);
        expect(HASH_FUNCTIONS[h](padded, 3, 3 + key.length)).toBe(v);
      }
    }
  });

  it('crc32 is the 15-bit libmemcached variant of zlib CRC-32 (crc32a)', () => {
    for (let n = 0; n < 500; n++) {
      const key = randomBytes(1 + (n % 30));
      const full = hashKey('crc32a', key);
      expect(hashKey('crc32', key)).toBe((full >>> 16) & 0x7fff);
    }
  });

  it('md5 is RFC 1321 MD5 (compared with node:crypto over every padding case)', () => {
    for (let len = 0; len < 300; len++) {
      const key = randomBytes(len);
      md5Into(key, 0, len);
      expect(Buffer.from(md5State.buffer.slice(0)).toString('hex')).toBe(createHash('md5').update(key).digest('hex'));
      expect(hashKey('md5', key)).toBe(createHash('md5').update(key).digest().readUInt32LE(0));
    }
  });

  it('ketama point hashes of "server1-8" match test_all.c', () => {
    const k = b('server1-8');
    md5Into(k, 0, k.length);
    expect(md5State[0]! >>> 0).toBe(3853726576);
    expect(md5State[3]! >>> 0).toBe(2667054752);
  });
});
