import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import {
  COMMENTED_DEFAULT, DEFAULT_DESCRIPTION, fromObject, loadTopology, parseAddress, parseTopology,
} from '../../src/topology/index.js';
import { errorOf } from '../support/description-error.js';

const valid = `
shards:
  - {name: a, master: "10.0.0.1:7000", instances: ["10.0.0.1:7000", "10.0.0.2:7000"]}
sentinel: {instances: ["10.0.0.1:26379", "10.0.0.2:26379", "10.0.0.3:26379"]}
proxy: {listen: "10.0.0.1:22121"}
`;

describe('description loading', () => {
  it('the commented default that init writes is the built-in default', () => {
    const fromInit = parseTopology(COMMENTED_DEFAULT, '/x/redis-shard.yml');
    // The built-in default of a new deployment (no state under /x): init states its hash, murmur.
    const builtin = loadTopology({ cwd: '/x' });
    expect(builtin.proxy.hash).toBe('murmur');
    expect({ ...fromInit, file: null }).toEqual(builtin);
  });

  it('applies defaults and makes paths absolute relative to the file', () => {
    const t = parseTopology(valid, '/etc/rs/redis-shard.yml');
    expect(t.stateDir).toBe('/etc/rs/.redis-shard');
    expect(t.sentinel.quorum).toBe(2);
    expect(t.sentinel.downAfterMilliseconds).toBe(1000);
    expect(t.proxy.hash).toBe('fnv1a_64');
    expect(t.proxy.stats).toBe('127.0.0.1:22222');
    expect(t.redis.minReplicasToWrite).toBe(1);
    expect(t.agent.apply).toBe('haproxy');
    expect(t.stagingFile).toBe('/etc/rs/.redis-shard/proxy/nutcracker.staged.yml');
    expect(t.shards[0]!.weight).toBe(1);
  });

  it('with no file, uses the default deployment with the state dir under the working dir', () => {
    const t = loadTopology({ cwd: '/nonexistent-dir-for-test' });
    expect(t.file).toBeNull();
    expect(t.stateDir).toBe('/nonexistent-dir-for-test/.redis-shard');
    expect(t.shards.map((s) => s.master)).toEqual(['127.0.0.1:6666', '127.0.0.1:7666']);
    expect(t.proxy.listen).toBe('127.0.0.1:22121');
  });

  it.each([
    ['a bad port', valid.replace('10.0.0.1:22121', '10.0.0.1:70000'), /proxy\.listen: port 70000 is outside 1-65535/],
    ['a missing section', 'shards: []\nproxy: {listen: "1.2.3.4:1"}', /sentinel: /],
    ['an unknown key', valid + 'colour: blue\n', /colour/],
    ['an unknown proxy key', valid.replace('{listen:', '{lisen: "x:1", listen:'), /proxy: .*lisen/],
    ['a bad hash', valid.replace('{listen:', '{hash: sha1, listen:'), /proxy\.hash: /],
    ['a one-char hash_tag', valid.replace('{listen:', '{hash_tag: "{", listen:'), /proxy\.hash_tag: hash_tag must be exactly two characters/],
    ['a master outside its shard', valid.replace('master: "10.0.0.1:7000"', 'master: "10.0.0.9:7000"'), /shards\[0\]\.master: 10\.0\.0\.9:7000 is not one of shards\[0\]\.instances/],
    ['a duplicated address', valid.replace('"10.0.0.2:7000"', '"10.0.0.1:7000"'), /shards\[0\]\.instances\[1\]: address 10\.0\.0\.1:7000 is already used by shards\[0\]\.instances\[0\]/],
    ['a quorum above the sentinel count', valid.replace('26379"]}', '26379"], quorum: 4}'), /sentinel\.quorum: 4 is more than the 3 sentinels/],
    ['a shard name with a space', valid.replace('name: a,', 'name: "a b",'), /shards\[0\]\.name: expected letters/],
    ['exec mode without a command', valid + 'agent: {apply: exec}\n', /agent\.exec: required when agent\.apply is "exec"/],
    ['auth with both sources', valid + 'auth: {passwordFile: p, passwordEnv: P}\n', /auth: give exactly one of passwordFile or passwordEnv/],
    ['a duplicate key', valid + 'proxy: {listen: "1.2.3.4:5"}\n', /not valid YAML/],
    ['a Sentinel ping period under its floor', valid.replace('26379"]}', '26379"], pingPeriodMs: 100}'), /sentinel\.pingPeriodMs: must be 0 \(Sentinel default\) or at least 250/],
    ['loopback mixed with LAN addresses', valid.replace('"10.0.0.3:26379"', '"127.0.0.1:26379"'), /addresses: loopback \(127\.0\.0\.1\) mixed with other hosts/],
    ['a list at the top', '- a\n- b\n', /expected a mapping/],
  ])('rejects %s, naming the file and the field', (_name, text, pattern) => {
    const msg = errorOf(text);
    expect(msg.startsWith('/etc/rs/redis-shard.yml: ')).toBe(true);
    expect(msg).toMatch(pattern);
  });

  it('a missing --config file is named', () => {
    expect(() => loadTopology({ config: 'missing.yml', cwd: '/tmp' })).toThrow(/missing\.yml: no such file/);
  });
});

describe('addresses', () => {
  it.each([
    ['127.0.0.1:6379', { host: '127.0.0.1', port: 6379 }],
    ['redis-1.example:7000', { host: 'redis-1.example', port: 7000 }],
    ['[::1]:6379', { host: '::1', port: 6379 }],
  ])('parses %s', (text, want) => expect(parseAddress(text)).toEqual(want));

  it.each(['6379', ':6379', 'host:', 'host:0', 'host:65536', 'ho st:1', 'host:12a', '[::1]6379', 'a;rm -rf /:1'])(
    'rejects %s with a reason',
    (text) => expect(typeof parseAddress(text)).toBe('string'),
  );
});

describe('init template', () => {
  it('is valid YAML whose comments explain the safety settings', () => {
    expect(parseDocument(COMMENTED_DEFAULT).errors).toEqual([]);
    expect(COMMENTED_DEFAULT).toMatch(/minReplicasToWrite: 1/);
    expect(COMMENTED_DEFAULT).toMatch(/ketama/);
  });
});
