import { describe, expect, it } from 'vitest';
import { ringFromNutcrackerYml } from '../../src/hashring/index.js';
import { renderNutcrackerYml } from '../../src/render/index.js';
import { describeChange, placement } from '../../src/reshard/index.js';
import { parseTopology } from '../../src/topology/index.js';

const shard = (name: string, port: number) => ({ name, master: `127.0.0.1:${port}`, instances: [`127.0.0.1:${port}`, `127.0.0.1:${port + 1}`] });
const desc = (shards: unknown[], proxy: Record<string, unknown> = {}) =>
  parseTopology(
    JSON.stringify({ shards, sentinel: { instances: ['127.0.0.1:26379'], quorum: 1 }, proxy: { listen: '127.0.0.1:22121', ...proxy } }),
    '/tmp/redis-shard.yml',
  );
const live = (shards: unknown[], proxy: Record<string, unknown> = {}) => {
  const t = desc(shards, proxy);
  return renderNutcrackerYml(t, Object.fromEntries(t.shards.map((s) => [s.name, s.master])), null);
};

describe('reshard ring change', () => {
  const old = live([shard('s1', 7000), shard('s2', 7010)]);
  const oldRing = ringFromNutcrackerYml(old, 'redis-shard');

  it('names an added shard, a removed one, and setting changes', () => {
    expect(describeChange(oldRing, null, desc([shard('s1', 7000), shard('s2', 7010), shard('s3', 7020)]))).toMatchObject({ added: ['s3'], removed: [] });
    expect(describeChange(oldRing, null, desc([shard('s1', 7000)]))).toMatchObject({ added: [], removed: ['s2'] });
    expect(describeChange(oldRing, null, desc([shard('s1', 7000), shard('s2', 7010)], { hash: 'murmur' })).settings).toEqual(['hash fnv1a_64 -> murmur']);
  });

  it('refuses a renamed shard and a shard removed and added under one name', () => {
    expect(() => describeChange(oldRing, null, desc([shard('s1', 7000), shard('s9', 7010)]))).toThrow(/renamed shard/);
    expect(() => describeChange(oldRing, null, desc([shard('s1', 7000), shard('s2', 7030)]))).toThrow(/both removed and added/);
  });

  it('placement: adding a shard moves keys only to it, about a third of them', () => {
    const next = live([shard('s1', 7000), shard('s2', 7010), shard('s3', 7020)]);
    const p = placement(old, next, 'redis-shard');
    let moved = 0;
    for (let i = 0; i < 3000; i++) {
      const k = Buffer.from(`key:${i}`);
      if (p.oldOwner(k) !== p.newOwner(k)) {
        moved++;
        expect(p.newOwner(k)).toBe('s3');
      }
    }
    expect(moved).toBeGreaterThan(700);
    expect(moved).toBeLessThan(1300);
  });

  it('placement: hash-tagged keys move together', () => {
    const a = live([shard('s1', 7000), shard('s2', 7010)], { hash_tag: '{}' });
    const b = live([shard('s1', 7000), shard('s2', 7010), shard('s3', 7020)], { hash_tag: '{}' });
    const p = placement(a, b, 'redis-shard');
    for (let g = 0; g < 50; g++) {
      const owners = new Set([0, 1, 2, 3].map((i) => p.newOwner(Buffer.from(`x:{user${g}}:${i}`))));
      expect(owners.size).toBe(1);
    }
  });
});
