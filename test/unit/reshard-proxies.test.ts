import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/errors.js';
import { movedFrontends, switchedProxies } from '../../src/ops/reshard.js';
import { liveIsNewRing } from '../../src/reshard/rings.js';
import { atomicWriteFiles } from '../../src/runtime/index.js';
import { parseTopology } from '../../src/topology/index.js';

// Engines on 127.0.0.1 (this host); 10.255.255.1 is an address no test machine has.
const engines = `
shards:
  - {name: a, master: "127.0.0.1:31200", instances: ["127.0.0.1:31200", "127.0.0.1:31201"]}
  - {name: b, master: "127.0.0.1:31210", instances: ["127.0.0.1:31210", "127.0.0.1:31211"]}
sentinel: {instances: ["127.0.0.1:31220"], quorum: 1}
proxy: {hash: murmur}
`;

function topo(proxies: string[], apply = 'haproxy') {
  return parseTopology(`${engines}proxies:\n${proxies.map((l) => `  - {listen: "${l}"}`).join('\n')}\nagent: {apply: ${apply}}\n`, '/tmp/rs-unit/redis-shard.yml');
}

function refusal(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a refusal');
}

describe('reshard with several proxies: which proxies the cut switches', () => {
  it('every proxy on this host (127.0.0.x): one view per proxy, each with its own folder, listen and frontends', () => {
    const t = topo(['127.0.0.2:31230', '127.0.0.3:31230']);
    const views = switchedProxies(t);
    expect(views.map((v) => v.proxy.listen)).toEqual(['127.0.0.2:31230', '127.0.0.3:31230']);
    expect(new Set(views.map((v) => v.proxyDir)).size).toBe(2);
    expect(views[0]!.haproxyFrontends).not.toEqual(views[1]!.haproxyFrontends);
    expect(views.every((v) => v.stateDir === t.stateDir)).toBe(true);
  });

  it('one proxy: the topology itself, as before', () => {
    const t = parseTopology(`${engines.replace('proxy: {hash: murmur}', 'proxy: {hash: murmur, listen: "127.0.0.1:31230"}')}`, '/tmp/rs-unit/redis-shard.yml');
    expect(switchedProxies(t)).toEqual([t]);
  });

  it('a proxy on another host is refused, naming it and why, before anything (InvalidInputError: exit 2)', () => {
    const e = refusal(() => switchedProxies(topo(['127.0.0.2:31230', '10.255.255.1:31230', '10.255.255.2:31230'])));
    expect(e).toBeInstanceOf(InvalidInputError);
    expect(e.message).toMatch(/proxies\[1\] \(10\.255\.255\.1:31230\), proxies\[2\] \(10\.255\.255\.2:31230\) run on another host/);
    expect(e.message).toMatch(/inside one short write pause, which this process can do only for proxies on this host/);
    expect(e.message).toMatch(/nothing was changed$/);
    expect(e.message).not.toContain('127.0.0.2:31230');
  });

  it('several proxies in apply mode exec are refused (it cannot stop a proxy before the first config is written)', () => {
    const t = parseTopology(
      `${engines}proxies:\n  - {listen: "127.0.0.2:31230"}\n  - {listen: "127.0.0.3:31230"}\nagent: {apply: exec, exec: ["/bin/true"]}\n`,
      '/tmp/rs-unit/redis-shard.yml',
    );
    const e = refusal(() => switchedProxies(t));
    expect(e).toBeInstanceOf(InvalidInputError);
    expect(e.message).toMatch(/agent\.apply exec: with several proxies .*needs agent\.apply haproxy or supervise/);
  });

  it('movedFrontends with no haproxy.cfg written yet (nothing running): nothing moves', () => {
    expect(movedFrontends(switchedProxies(topo(['127.0.0.2:31230', '127.0.0.3:31230'])))).toBeNull();
  });
});

describe('reshard with several proxies: the commit is the first proxy config with the new ring', () => {
  const yml = (servers: string[]) => `pool:\n  hash: murmur\n  distribution: ketama\n  servers:\n${servers.map((s) => `    - ${s}`).join('\n')}\n`;
  const oldRing = yml(['127.0.0.1:1:1 a', '127.0.0.1:2:1 b']);
  const newRing = yml(['127.0.0.1:1:1 a', '127.0.0.1:2:1 b', '127.0.0.1:3:1 c']);
  // Another proxy's text of the new ring: its own frontends, the same shard names and weights.
  const newRingElsewhere = yml(['127.0.0.3:11:1 a', '127.0.0.3:12:1 b', '127.0.0.3:13:1 c']);
  const deps = (texts: Array<string | null>) => ({
    views: texts.map(() => null as never),
    liveYml: (i = 0) => {
      const t = texts[i];
      if (t === null || t === undefined) throw new Error('ENOENT');
      return t;
    },
  });
  const state = { newYml: newRing, pool: 'pool' };

  it('no proxy on the new ring: not committed', () => {
    expect(liveIsNewRing(deps([oldRing, oldRing]), state)).toBe(false);
  });
  it('any one proxy on it (a crash between two writes), whichever: committed', () => {
    expect(liveIsNewRing(deps([oldRing, newRingElsewhere]), state)).toBe(true);
    expect(liveIsNewRing(deps([newRing, oldRing]), state)).toBe(true);
  });
  it('an unreadable config counts as not on the new ring', () => {
    expect(liveIsNewRing(deps([null, oldRing]), state)).toBe(false);
    expect(liveIsNewRing(deps([null, newRingElsewhere]), state)).toBe(true);
  });
});

describe('atomicWriteFiles', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rs-awf-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes every file in full and leaves no temp file', () => {
    atomicWriteFiles([
      { path: join(dir, 'a', 'x.yml'), text: 'one\n', mode: 0o600 },
      { path: join(dir, 'b', 'x.yml'), text: 'two\n' },
    ]);
    expect(readFileSync(join(dir, 'a', 'x.yml'), 'utf8')).toBe('one\n');
    expect(readFileSync(join(dir, 'b', 'x.yml'), 'utf8')).toBe('two\n');
    expect([...readdirSync(join(dir, 'a')), ...readdirSync(join(dir, 'b'))]).toEqual(['x.yml', 'x.yml']);
  });

  it('a file that cannot be written: no file changed, no temp file left', () => {
    atomicWriteFiles([{ path: join(dir, 'a', 'x.yml'), text: 'old\n' }]);
    // A folder that cannot be made (its parent is a file): the second file fails after the first temp was written.
    writeFileSync(join(dir, 'a-file'), 'x');
    expect(() => atomicWriteFiles([
      { path: join(dir, 'a', 'x.yml'), text: 'new\n' },
      { path: join(dir, 'a-file', 'sub', 'x.yml'), text: 'new\n' },
    ])).toThrow(/ENOTDIR/);
    expect(readFileSync(join(dir, 'a', 'x.yml'), 'utf8')).toBe('old\n');
    expect(readdirSync(join(dir, 'a'))).toEqual(['x.yml']);
  });
});
