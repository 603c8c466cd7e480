import { describe, expect, it } from 'vitest';
import { readPoolServers, setServerAddresses } from '../../src/render/index.js';

const YML = `# Hand-kept header comment
alpha:
  listen: 127.0.0.1:22121
  hash: fnv1a_64   # trailing comment
  distribution: ketama
  hash_tag: "{}"
  custom_unknown_key: keep-me
  servers:
    # shard one
    - 127.0.0.1:6666:3 s1
    - "127.0.0.1:7666:1 s2"   # quoted
    - '127.0.0.1:8666:2 s3'
    - 127.0.0.1:9666:1
beta:
  listen: 127.0.0.1:22122
  servers:
    - 127.0.0.1:6666:1 s1
`;

describe('setServerAddresses', () => {
  it('changes only the addresses asked for, byte for byte elsewhere', () => {
    const out = setServerAddresses(YML, 'alpha', { s1: '127.0.0.1:6667', s2: '127.0.0.1:7668', s3: '127.0.0.1:8667' });
    const expected = YML.replace('- 127.0.0.1:6666:3 s1', '- 127.0.0.1:6667:3 s1')
      .replace('"127.0.0.1:7666:1 s2"', '"127.0.0.1:7668:1 s2"')
      .replace("'127.0.0.1:8666:2 s3'", "'127.0.0.1:8667:2 s3'");
    expect(out).toBe(expected);
    // The other pool's s1 is untouched.
    expect(readPoolServers(out, 'beta')).toEqual([{ name: 's1', addr: '127.0.0.1:6666', weight: 1, named: true }]);
  });

  it('keeps weights and names, and is a no-op when nothing changes', () => {
    expect(setServerAddresses(YML, 'alpha', { s1: '127.0.0.1:6666' })).toBe(YML);
    expect(setServerAddresses(YML, 'alpha', {})).toBe(YML);
    const servers = readPoolServers(setServerAddresses(YML, 'alpha', { s1: '[::1]:6667' }), 'alpha');
    expect(servers[0]).toEqual({ name: 's1', addr: '[::1]:6667', weight: 3, named: true });
  });

  it('refuses what it cannot do safely', () => {
    expect(() => setServerAddresses(YML, 'gamma', { s1: '127.0.0.1:1' })).toThrow(/no pool named "gamma"/);
    expect(() => setServerAddresses(YML, 'alpha', { s9: '127.0.0.1:1' })).toThrow(/no server named "s9"/);
    // Unnamed servers are keyed by their address on the ring: never moved.
    expect(() => setServerAddresses(YML, 'alpha', { '127.0.0.1:9666': '127.0.0.1:9667' })).toThrow(/no server named/);
    expect(() => setServerAddresses(YML, 'alpha', { s1: '127.0.0.1:6667\n    - evil:1:1 x' })).toThrow(/new address/);
    expect(() => setServerAddresses(YML, 'alpha', { s1: 'nope' })).toThrow(/new address/);
    expect(() => setServerAddresses('alpha: [unclosed', 'alpha', { s1: '127.0.0.1:1' })).toThrow(/not valid YAML/);
    expect(() => setServerAddresses('alpha:\n  servers:\n    - garbage line here\n', 'alpha', { s1: '127.0.0.1:1' })).toThrow(/is not "host:port:weight/);
    expect(() => setServerAddresses('alpha:\n  servers:\n    - 127.0.0.1:1:1 s1\n    - 127.0.0.1:2:1 s1\n', 'alpha', { s1: '127.0.0.1:3' })).toThrow(/appears twice/);
  });
});
