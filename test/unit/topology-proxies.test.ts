import { describe, expect, it } from 'vitest';
import { localParts } from '../../src/runtime/index.js';
import { allProxies, findProxy, haproxyPaths, loadTopology, parseTopology, proxyPaths, proxyView } from '../../src/topology/index.js';
import { errorOf } from '../support/description-error.js';

const base = `
shards:
  - {name: a, master: "10.0.0.1:7000", instances: ["10.0.0.1:7000", "10.0.0.2:7000"]}
  - {name: b, master: "10.0.0.2:7001", instances: ["10.0.0.2:7001", "10.0.0.1:7001"]}
sentinel: {instances: ["10.0.0.1:26379", "10.0.0.2:26379", "10.0.0.3:26379"]}
`;
const two = `${base}proxy: {hash: murmur}
proxies:
  - {listen: "10.0.0.1:22121"}
  - {listen: "10.0.0.2:22121", stats: "127.0.0.1:23000", http: {listen: "127.0.0.1:22180"}}
`;

describe('one proxy (proxy.listen): unchanged', () => {
  it('one proxy whose folders are the state dir\'s own, stats and frontends as always', () => {
    const t = parseTopology(`${base}proxy: {listen: "10.0.0.1:22121"}\n`, '/etc/rs/redis-shard.yml');
    const all = allProxies(t);
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({ field: 'proxy', listen: '10.0.0.1:22121', host: '10.0.0.1', stats: '127.0.0.1:22222', dir: '/etc/rs/.redis-shard' });
    expect(t.proxyDir).toBe(t.stateDir);
    expect(proxyPaths(t.proxyDir).conf).toBe('/etc/rs/.redis-shard/proxy/nutcracker.yml');
    expect(t.haproxyFrontends).toEqual({ a: '127.0.0.1:22131', b: '127.0.0.1:22132' });
    expect(t.stagingFile).toBe('/etc/rs/.redis-shard/proxy/nutcracker.staged.yml');
    expect(proxyView(t, all[0]!)).toEqual(t);
  });

  it('the default deployment: one proxy on 127.0.0.1:22121 with the agent\'s HTTP side', () => {
    const t = loadTopology({ cwd: '/nonexistent-dir-for-test' });
    expect(allProxies(t).map((p) => [p.listen, p.stats, p.http?.listen])).toEqual([['127.0.0.1:22121', '127.0.0.1:22222', '127.0.0.1:22180']]);
  });

  it('derived frontends step around every address as written, as they always did', () => {
    const t = parseTopology(
      `shards:
  - {name: a, master: "127.0.0.1:22131", instances: ["127.0.0.1:22131"]}
sentinel: {instances: ["127.0.0.1:26379"], quorum: 1}
redis: {minReplicasToWrite: 0}
proxy: {listen: "10.0.0.1:22121"}
`,
      '/x/redis-shard.yml',
    );
    expect(t.haproxyFrontends).toEqual({ a: '127.0.0.1:22132' });
  });

  it('no proxy at all is refused, naming proxy.listen', () => {
    expect(errorOf(base)).toMatch(/proxy\.listen: required/);
  });
});

describe('several proxies (proxies:)', () => {
  it('each proxy has its own folder, stats, frontends and HTTP side; pool settings are shared', () => {
    const t = parseTopology(two, '/etc/rs/redis-shard.yml');
    const [p0, p1] = allProxies(t);
    expect(p0).toMatchObject({ field: 'proxies[0]', host: '10.0.0.1', stats: '127.0.0.1:22222', http: undefined, dir: '/etc/rs/.redis-shard/proxies/10.0.0.1_22121' });
    expect(p1).toMatchObject({ field: 'proxies[1]', host: '10.0.0.2', stats: '127.0.0.1:23000', dir: '/etc/rs/.redis-shard/proxies/10.0.0.2_22121' });
    expect(p1!.http?.listen).toBe('127.0.0.1:22180');
    // Loopback frontends on two real hosts are two sockets: both may take the same ports.
    expect(p0!.frontends).toEqual({ a: '127.0.0.1:22131', b: '127.0.0.1:22132' });
    expect(p1!.frontends).toEqual({ a: '127.0.0.1:22131', b: '127.0.0.1:22132' });
    // topo.proxy & co. describe the first proxy; a view describes another, everything else the same.
    expect(t.proxy.listen).toBe('10.0.0.1:22121');
    const v = proxyView(t, p1!);
    expect(v.proxy).toMatchObject({ listen: '10.0.0.2:22121', stats: '127.0.0.1:23000', hash: 'murmur' });
    expect(v.agent.http?.listen).toBe('127.0.0.1:22180');
    expect(haproxyPaths(v.proxyDir).socket).toBe('/etc/rs/.redis-shard/proxies/10.0.0.2_22121/haproxy/admin.sock');
    expect(v.stagingFile).toBe('/etc/rs/.redis-shard/proxies/10.0.0.2_22121/proxy/nutcracker.staged.yml');
    expect(v.shards).toBe(t.shards);
    expect(findProxy(t, '10.0.0.2:22121')).toBe(p1);
    expect(() => findProxy(t, '10.0.0.9:1')).toThrow(/--proxy 10\.0\.0\.9:1: no proxy listens there .*its proxies: 10\.0\.0\.1:22121, 10\.0\.0\.2:22121/);
  });

  it('loopback hosts (one machine): stats and frontends on the proxy\'s own loopback address, derived around every stated address', () => {
    const t = parseTopology(
      `shards:
  - {name: a, master: "127.0.0.1:7000", instances: ["127.0.0.1:7000"]}
sentinel: {instances: ["127.0.0.1:26379"], quorum: 1}
redis: {minReplicasToWrite: 0}
proxies:
  - {listen: "127.0.0.2:22121"}
  - {listen: "127.0.0.3:22121", haproxy: {frontends: {a: "127.0.0.3:22140"}}}
  - {listen: "127.0.0.4:22121", stats: "127.0.0.4:22131"}
`,
      '/x/redis-shard.yml',
    );
    expect(allProxies(t).map((p) => [p.stats, p.frontends.a])).toEqual([
      ['127.0.0.2:22222', '127.0.0.2:22131'],
      ['127.0.0.3:22222', '127.0.0.3:22140'],
      ['127.0.0.4:22131', '127.0.0.4:22132'],
    ]);
    // --host picks that host's proxies only; without it every loopback address is this machine's.
    expect(localParts(t, '127.0.0.3').proxies.map((p) => p.listen)).toEqual(['127.0.0.3:22121']);
    expect(localParts(t, '127.0.0.1').proxies).toEqual([]);
    expect(localParts(t).proxies).toHaveLength(3);
  });

  it.each([
    ['two proxies on one address', `${base}proxies:\n  - {listen: "10.0.0.1:22121"}\n  - {listen: "10.0.0.1:22121"}\n`, /proxies\[1\]\.listen: address 10\.0\.0\.1:22121 is already used by proxies\[0\]\.listen/],
    ['a proxy on an instance\'s address', `${base}proxies:\n  - {listen: "10.0.0.1:7000"}\n`, /proxies\[0\]\.listen: address 10\.0\.0\.1:7000 is already used by shards\[0\]\.instances\[0\]/],
    ['a bad listen', `${base}proxies:\n  - {listen: "10.0.0.1:22121"}\n  - {listen: "nope"}\n`, /proxies\[1\]\.listen: expected "host:port"/],
    ['an unknown key', `${base}proxies:\n  - {listen: "10.0.0.1:22121", hash: murmur}\n`, /proxies\[0\]: .*hash/],
    ['an empty list', `${base}proxies: []\n`, /proxies: /],
    ['proxy.listen beside proxies', `${base}proxy: {listen: "10.0.0.1:1"}\nproxies:\n  - {listen: "10.0.0.1:22121"}\n`, /proxy\.listen: give it per proxy \(proxies\[i\]\.listen\)/],
    ['proxy.stats beside proxies', `${base}proxy: {stats: "127.0.0.1:1"}\nproxies:\n  - {listen: "10.0.0.1:22121"}\n`, /proxy\.stats: give it per proxy/],
    ['agent.http beside proxies', `${base}agent: {http: {listen: "127.0.0.1:22180"}}\nproxies:\n  - {listen: "10.0.0.1:22121"}\n`, /agent\.http: give it per proxy \(proxies\[i\]\.http\)/],
    ['two stats on one host', `${base}proxies:\n  - {listen: "10.0.0.1:22121", stats: "127.0.0.1:5"}\n  - {listen: "10.0.0.1:22122", stats: "127.0.0.1:5"}\n`, /proxies\[1\]\.stats: address 127\.0\.0\.1:5 is already used by proxies\[0\]\.stats/],
    ['a frontend for no shard', `${base}proxies:\n  - {listen: "10.0.0.1:22121", haproxy: {frontends: {zz: "127.0.0.1:9"}}}\n`, /proxies\[0\]\.haproxy\.frontends\.zz: no shard is named "zz"/],
    ['a frontend on another host', `${base}proxies:\n  - {listen: "10.0.0.1:22121", haproxy: {frontends: {a: "10.0.0.2:9"}}}\n`, /proxies\[0\]\.haproxy\.frontends\.a: 10\.0\.0\.2:9 is not on the proxy's host/],
    ['an http without token off loopback', `${base}proxies:\n  - {listen: "10.0.0.1:22121", http: {listen: "10.0.0.1:22180"}}\n`, /proxies\[0\]\.http\.listen: 10\.0\.0\.1:22180 is not a loopback address/],
    ['one staging file for two proxies', `${base}agent: {apply: staging, stagingFile: /x/s.yml}\nproxies:\n  - {listen: "10.0.0.1:22121"}\n  - {listen: "10.0.0.2:22121"}\n`, /agent\.stagingFile: one file cannot serve several proxies/],
    ['a derived stats port past 65535', `${base}proxies:\n  - {listen: "10.0.0.1:65500"}\n`, /proxies\[0\]\.stats: the derived port is past 65535/],
  ])('%s is refused, naming the field', (_what, text, message) => {
    expect(errorOf(text)).toMatch(message);
  });
});
