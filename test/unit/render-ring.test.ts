import { describe, expect, it } from 'vitest';
import { renderNutcrackerYml, ringDifferences } from '../../src/render/index.js';
import { DEFAULT_DESCRIPTION, fromObject } from '../../src/topology/index.js';

const topo = fromObject(DEFAULT_DESCRIPTION, null, '/tmp');
const masters = { s1: '127.0.0.1:6666', s2: '127.0.0.1:7666' };
const good = renderNutcrackerYml(topo, masters, null);

describe('ringDifferences: a nutcracker.yml that would place keys elsewhere', () => {
  it('the rendered config, and one after a failover, place keys as the description does', () => {
    expect(ringDifferences(good, topo)).toEqual([]);
    expect(ringDifferences(renderNutcrackerYml(topo, { ...masters, s1: '127.0.0.1:6667' }, null), topo)).toEqual([]);
  });

  it('a fenced shard (its server line at agent.fence.address, which refuses) places no key elsewhere', () => {
    expect(topo.agent.fence.address).toBe('127.0.0.1:1');
    expect(ringDifferences(renderNutcrackerYml(topo, { ...masters, s1: topo.agent.fence.address }, null), topo)).toEqual([]);
    expect(ringDifferences(renderNutcrackerYml(topo, { ...masters, s1: '127.0.0.1:2' }, null), topo).join('\n')).toMatch(/"s1" points at 127\.0\.0\.1:2/);
  });

  it.each([
    ['a renamed shard', good.replace(' s1\n', ' s9\n'), [/server "s9" is not a shard/, /no server named "s1"/]],
    ['a dropped shard', good.replace(/ {4}- 127\.0\.0\.1:7666:1 s2\n/, ''), [/no server named "s2"/]],
    ['an added server', `${good}    - 127.0.0.1:9999:1 s3\n`, [/server "s3" is not a shard/]],
    ['another hash', good.replace('hash: fnv1a_64', 'hash: murmur'), [/hash is "murmur" but the description's proxy\.hash is "fnv1a_64"/]],
    ['another distribution', good.replace('distribution: ketama', 'distribution: modula'), [/distribution is "modula"/]],
    ['a hash_tag added', good.replace('  timeout:', '  hash_tag: "{}"\n  timeout:'), [/hash_tag is "\{\}" but the description's proxy\.hash_tag is not set/]],
    ['another weight', good.replace(':1 s1', ':3 s1'), [/server "s1" has weight 3 but the description's is 1/]],
    ['an instance of another shard', good.replace('127.0.0.1:6666:1 s1', '127.0.0.1:7667:1 s1'), [/"s1" points at 127\.0\.0\.1:7667, which is not an instance of shard s1/]],
    ['an unnamed server', good.replace(':1 s1', ':1'), [/has no name/]],
    ['another pool name', good.replace('redis-shard:', 'other:'), [/no pool named "redis-shard"/]],
  ])('%s', (_what, text, expected) => {
    const d = ringDifferences(text, topo);
    for (const re of expected) expect(d.join('\n')).toMatch(re);
  });

  it('modula: the same servers in another order place keys elsewhere', () => {
    const modula = fromObject({ ...DEFAULT_DESCRIPTION, proxy: { ...DEFAULT_DESCRIPTION.proxy, distribution: 'modula' } }, null, '/tmp');
    const text = renderNutcrackerYml(modula, masters, null);
    expect(ringDifferences(text, modula)).toEqual([]);
    const swapped = text.replace(/( {4}- 127\.0\.0\.1:6666:1 s1\n)( {4}- 127\.0\.0\.1:7666:1 s2\n)/, '$2$1');
    expect(ringDifferences(swapped, modula).join('\n')).toMatch(/in the order s2, s1/);
  });
});
