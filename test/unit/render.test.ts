import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import {
  poolServerOf, readPoolServers, renderNutcrackerYml, renderRedisConf, renderSentinelConf,
} from '../../src/render/index.js';
import { parseTopology } from '../../src/topology/index.js';

const topo = parseTopology(
  `
stateDir: /var/lib/rs
shards:
  - {name: s1, master: "127.0.0.1:6666", instances: ["127.0.0.1:6666", "127.0.0.1:6667"], weight: 3}
  - {name: s2, master: "127.0.0.1:7666", instances: ["127.0.0.1:7666", "127.0.0.1:7667"]}
sentinel: {instances: ["127.0.0.1:26379", "127.0.0.1:26380", "127.0.0.1:26381"], downAfterMilliseconds: 1500}
proxy: {listen: "127.0.0.1:22121", hash: murmur, hash_tag: "{}"}
`,
  '/etc/rs/redis-shard.yml',
);

describe('redis.conf', () => {
  it('binds the given address, writes state under the state dir, and is safe by default', () => {
    const c = renderRedisConf(topo, { addr: '127.0.0.1:6667', replicaOf: '127.0.0.1:6666', password: null });
    expect(c).toMatch(/^bind 127\.0\.0\.1$/m);
    expect(c).toMatch(/^port 6667$/m);
    expect(c).toMatch(/^dir \/var\/lib\/rs\/redis\/127\.0\.0\.1_6667$/m);
    expect(c).toMatch(/^replicaof 127\.0\.0\.1 6666$/m);
    expect(c).toMatch(/^min-replicas-to-write 1$/m);
    expect(c).toMatch(/^appendonly yes$/m);
    expect(c).not.toMatch(/requirepass/);
  });

  it('a master has no replicaof; a password sets requirepass and masterauth', () => {
    const c = renderRedisConf(topo, { addr: '127.0.0.1:6666', replicaOf: null, password: 's3cret' });
    expect(c).not.toMatch(/^replicaof/m);
    expect(c).toMatch(/^requirepass s3cret$/m);
    expect(c).toMatch(/^masterauth s3cret$/m);
  });
});

describe('sentinel.conf', () => {
  it('monitors every shard at its current master with the description settings', () => {
    const c = renderSentinelConf(topo, { addr: '127.0.0.1:26380', masters: { s1: '127.0.0.1:6667' }, password: 'pw' });
    expect(c).toMatch(/^port 26380$/m);
    expect(c).toMatch(/^sentinel monitor s1 127\.0\.0\.1 6667 2$/m);
    expect(c).toMatch(/^sentinel monitor s2 127\.0\.0\.1 7666 2$/m);
    expect(c).toMatch(/^sentinel down-after-milliseconds s1 1500$/m);
    expect(c).toMatch(/^sentinel auth-pass s2 pw$/m);
    expect(c).toMatch(/^requirepass pw$/m);
    expect(c).toMatch(/^sentinel sentinel-pass pw$/m);
  });
});

describe('nutcracker.yml', () => {
  it('names every server after its shard, with its weight, at its current master', () => {
    const y = renderNutcrackerYml(topo, { s2: '127.0.0.1:7667' }, null);
    expect(readPoolServers(y)).toEqual([
      { name: 's1', addr: '127.0.0.1:6666', weight: 3, named: true },
      { name: 's2', addr: '127.0.0.1:7667', weight: 1, named: true },
    ]);
    expect(y).toMatch(/^ {2}hash: murmur$/m);
    expect(y).toMatch(/^ {2}hash_tag: "\{\}"$/m);
    expect(y).toMatch(/^ {2}auto_eject_hosts: false$/m);
    expect(y).not.toMatch(/redis_auth/);
  });

  it('carries redis_auth only with a password, quoted so any printable password stays a string', () => {
    expect(renderNutcrackerYml(topo, {}, 'pw')).toMatch(/^ {2}redis_auth: "pw"$/m);
    for (const pw of ['#Secret1', '*abc', '!abc', '%abc', '&x', '{a}', '[b]', '@c', '`d', '|e', '>f', '?g', 'a: b', '-h']) {
      const doc = parseDocument(renderNutcrackerYml(topo, {}, pw)).toJS() as Record<string, Record<string, unknown>>;
      expect(doc['redis-shard']!.redis_auth, pw).toBe(pw);
    }
  });

  it('parses server lines as nutcracker does', () => {
    expect(poolServerOf('10.0.0.1:6379:2')).toEqual({ name: '10.0.0.1:6379', addr: '10.0.0.1:6379', weight: 2, named: false });
    expect(poolServerOf('10.0.0.1:6379:1 shard-a')).toMatchObject({ name: 'shard-a', named: true });
    expect(typeof poolServerOf('10.0.0.1:6379')).toBe('string');
    // nutcracker -t refuses weight 0 ("has a zero weight"); both the ring and the editor now say so too.
    expect(poolServerOf('10.0.0.1:6379:0 s1')).toMatch(/weight/);
  });

  it('reports a pool without servers', () => {
    expect(() => readPoolServers('p:\n  listen: 1.2.3.4:5\n')).toThrow(/servers is missing/);
    expect(() => readPoolServers('p:\n  servers: []\n', 'q')).toThrow(/no pool named "q"/);
  });
});
