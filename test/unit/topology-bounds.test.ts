import { describe, expect, it } from 'vitest';
import { parseTopology } from '../../src/topology/index.js';
import { errorOf } from '../support/description-error.js';

const base = (extra = '', shard2 = '["127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"]') => `
shards:
  - {name: a, master: "127.0.0.1:7000", instances: ${shard2}}
sentinel: {instances: ["127.0.0.1:26379", "127.0.0.1:26380", "127.0.0.1:26381"]}
proxy: {listen: "127.0.0.1:22121"}
${extra}`;

describe('numbers are bounded by what the engines accept', () => {
  const INT_MAX = 2147483647;
  it.each([
    ['proxy.timeout', 'proxy: {listen: "127.0.0.1:22121", timeout: 9007199254740991}'],
    ['proxy.backlog', 'proxy: {listen: "127.0.0.1:22121", backlog: 2147483648}'],
    ['proxy.server_retry_timeout', 'proxy: {listen: "127.0.0.1:22121", server_retry_timeout: 2147483648}'],
    ['sentinel.downAfterMilliseconds', 'sentinel: {instances: ["127.0.0.1:26379"], quorum: 1, downAfterMilliseconds: 9007199254740991}'],
    ['sentinel.failoverTimeout', 'sentinel: {instances: ["127.0.0.1:26379"], quorum: 1, failoverTimeout: 2147483648}'],
    ['sentinel.pingPeriodMs', 'sentinel: {instances: ["127.0.0.1:26379"], quorum: 1, pingPeriodMs: 2147483648}'],
    ['redis.minReplicasMaxLag', 'redis: {minReplicasMaxLag: 2147483648}'],
  ])('%s past 2^31-1 is refused, naming the field', (field, line) => {
    const top = new RegExp(`^${field.split('.')[0]}:.*$`, 'm');
    const text = top.test(base()) ? base().replace(top, line) : base(line);
    const msg = errorOf(text);
    expect(msg).toContain(field);
    expect(msg).toMatch(/2147483647/);
  });

  it('the largest value the engines accept is taken', () => {
    const t = parseTopology(base().replace(/^proxy:.*$/m, `proxy: {listen: "127.0.0.1:22121", timeout: ${INT_MAX}}`), '/x/r.yml');
    expect(t.proxy.timeout).toBe(INT_MAX);
  });
});

describe('a description whose shards cannot take writes is refused', () => {
  it('minReplicasToWrite larger than a shard has replicas', () => {
    const msg = errorOf(base('redis: {minReplicasToWrite: 5}'));
    expect(msg).toMatch(/redis\.minReplicasToWrite: 5 .*shards\[0\] \(a\) has 2 replicas/);
    expect(msg).toMatch(/NOREPLICAS/);
  });

  it('a one-instance shard with minReplicasToWrite 1 (the default)', () => {
    const msg = errorOf(base('', '["127.0.0.1:7000"]'));
    expect(msg).toMatch(/redis\.minReplicasToWrite: 1 .*shards\[0\] \(a\) has 0 replicas/);
  });

  it('a one-instance shard with minReplicasToWrite 0 is fine', () => {
    expect(parseTopology(base('redis: {minReplicasToWrite: 0}', '["127.0.0.1:7000"]'), '/x/r.yml').shards[0]!.instances).toHaveLength(1);
  });
});

describe('YAML errors', () => {
  it('show the code frame where the error is', () => {
    const msg = errorOf('shards:\n  - name: s1\n    master: 127.0.0.1:1\n   instances: [a\nproxy: {}\n');
    expect(msg).toMatch(/at line 4, column 1:\n/);
    expect(msg).toContain('   instances: [a');
    expect(msg).toMatch(/\^/);
  });
});
