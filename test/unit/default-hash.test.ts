import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commentedDefault, defaultDeploymentHash, loadTopology, parseTopology } from '../../src/topology/index.js';

const dirs: string[] = [];
const fresh = () => {
  const d = mkdtempSync(join(tmpdir(), 'rs-default-hash-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('the default hash: balanced for new deployments, unchanged for existing ones', () => {
  it('a new built-in default deployment hashes with murmur', () => {
    const d = fresh();
    expect(defaultDeploymentHash(d)).toEqual({ hash: 'murmur', source: 'new' });
    expect(loadTopology({ cwd: d }).proxy.hash).toBe('murmur');
  });

  it('a built-in default deployment that already runs keeps the hash of its live nutcracker.yml', () => {
    const d = fresh();
    mkdirSync(join(d, '.redis-shard/proxy'), { recursive: true });
    writeFileSync(join(d, '.redis-shard/proxy/nutcracker.yml'), 'redis-shard:\n  listen: 127.0.0.1:22121\n  hash: fnv1a_64\n  servers:\n    - 127.0.0.1:6666:1 s1\n');
    expect(loadTopology({ cwd: d }).proxy.hash).toBe('fnv1a_64');
    // A pool that states no hash runs with nutcracker's default.
    writeFileSync(join(d, '.redis-shard/proxy/nutcracker.yml'), 'redis-shard:\n  listen: 127.0.0.1:22121\n  servers:\n    - 127.0.0.1:6666:1 s1\n');
    expect(defaultDeploymentHash(d)).toEqual({ hash: 'fnv1a_64', source: 'live proxy config' });
    writeFileSync(join(d, '.redis-shard/proxy/nutcracker.yml'), 'redis-shard:\n  hash: crc32a\n');
    expect(loadTopology({ cwd: d }).proxy.hash).toBe('crc32a');
  });

  it('state without a proxy config (data written before) keeps the legacy fnv1a_64', () => {
    const d = fresh();
    mkdirSync(join(d, '.redis-shard/redis/127.0.0.1-6666'), { recursive: true });
    expect(defaultDeploymentHash(d)).toEqual({ hash: 'fnv1a_64', source: 'existing state' });
  });

  it('a description file without proxy.hash keeps meaning fnv1a_64; one that states a hash keeps it', () => {
    const base = 'shards: [{name: s1, master: "127.0.0.1:1", instances: ["127.0.0.1:1", "127.0.0.1:4"]}]\nsentinel: {instances: ["127.0.0.1:3", "127.0.0.1:5"]}\n';
    expect(parseTopology(`${base}proxy: {listen: "127.0.0.1:2"}\n`, '/x/a.yml').proxy.hash).toBe('fnv1a_64');
    expect(parseTopology(`${base}proxy: {listen: "127.0.0.1:2", hash: md5}\n`, '/x/a.yml').proxy.hash).toBe('md5');
  });

  it('init writes the hash explicitly', () => {
    expect(commentedDefault('murmur')).toMatch(/^ {2}hash: murmur$/m);
    expect(parseTopology(commentedDefault('fnv1a_64'), '/x/redis-shard.yml').proxy.hash).toBe('fnv1a_64');
  });
});
