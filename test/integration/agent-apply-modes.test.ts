import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigApplier } from '../../src/agent/index.js';
import { readPoolServers, renderNutcrackerYml } from '../../src/render/index.js';
import { loadTopology, proxyPaths, type DescriptionInput } from '../../src/topology/index.js';
import { testDescription } from '../support/stack.js';

// Real `nutcracker -t`, no servers: addresses in 13300-13399 are only written, never listened on.
const BASE = 13300;

describe('apply modes (staging, exec) through the agent apply path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'redis-shard-agent-modes-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function setup(name: string, agent: DescriptionInput['agent']) {
    const sub = join(dir, name);
    mkdirSync(sub, { recursive: true });
    const file = join(sub, 'redis-shard.yml');
    writeFileSync(file, stringify(testDescription(BASE, { agent })));
    const topo = loadTopology({ config: file });
    const conf = proxyPaths(topo.stateDir).conf;
    mkdirSync(proxyPaths(topo.stateDir).dir, { recursive: true });
    const original = renderNutcrackerYml(topo, {}, null);
    writeFileSync(conf, original);
    return { topo, conf, original, applier: new ConfigApplier(topo, null, null) };
  }

  it('staging: writes only the staging file, checked; the live config is untouched', async () => {
    const { topo, conf, original, applier } = setup('staging', { apply: 'staging' });
    const base = await applier.readBase();
    expect(base.path).toBe(conf);
    const next = applier.edit(base, { s1: `127.0.0.1:${BASE + 1}` });
    const r = await applier.apply(next);
    expect(r.ok).toBe(true);
    expect(readFileSync(topo.stagingFile, 'utf8')).toBe(next);
    expect(readFileSync(conf, 'utf8')).toBe(original);
    // From now on the staging file is the current config, and applying it again changes nothing.
    expect((await applier.readBase()).path).toBe(topo.stagingFile);
    const again = await applier.apply(next);
    expect(again.ok && again.changed).toBe(false);
  });

  it('refuses a config nutcracker rejects, keeping the old one', async () => {
    const { conf, original, applier } = setup('reject', { apply: 'staging' });
    const r = await applier.apply(original.replace('  servers:', '  no_such_key: 1\n  servers:'));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.stage).toBe('check');
      expect(r.error.message).toMatch(/fails nutcracker -t/);
    }
    expect(readFileSync(conf, 'utf8')).toBe(original);
  });

  it('exec: writes the config, then runs the argv with the config path appended (no shell)', async () => {
    const out = join(dir, 'exec-copied.yml');
    // The argv's last element is the config path; `$(...)` in an argument stays literal text, as no shell runs.
    const script = `require('fs').writeFileSync(${JSON.stringify(out)}, process.argv[2] + '\\n' + require('fs').readFileSync(process.argv[2], 'utf8'))`;
    const { conf, applier } = setup('exec', { apply: 'exec', exec: [process.execPath, '-e', script, '$(touch /tmp/never)'] });
    const next = applier.edit(await applier.readBase(), { s2: `127.0.0.1:${BASE + 12}` });
    const r = await applier.apply(next);
    expect(r.ok, r.ok ? '' : r.error.message).toBe(true);
    expect(readFileSync(conf, 'utf8')).toBe(next);
    const copied = readFileSync(out, 'utf8');
    expect(copied.split('\n')[0]).toBe(conf);
    expect(readPoolServers(copied.slice(copied.indexOf('\n') + 1), 'redis-shard').find((s) => s.name === 's2')?.addr).toBe(`127.0.0.1:${BASE + 12}`);
  });

  it('exec: a failing command is a failed apply that a forced re-apply retries', async () => {
    const { conf, applier } = setup('exec-fail', { apply: 'exec', exec: [process.execPath, '-e', 'process.stderr.write("proxy reload refused"); process.exit(3)'] });
    const next = applier.edit(await applier.readBase(), { s1: `127.0.0.1:${BASE + 2}` });
    const r = await applier.apply(next);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.stage).toBe('activate');
      expect(r.error.message).toMatch(/proxy reload refused/);
    }
    // The file was written (it passed the check); the activation is what must be retried.
    expect(readFileSync(conf, 'utf8')).toBe(next);
    const retry = await applier.apply(next, { force: true });
    expect(retry.ok).toBe(false);
    expect(existsSync(`${conf}.rejected`)).toBe(false);
  });
});

describe('exec activation is remembered', () => {
  const dir = mkdtempSync(join(tmpdir(), 'redis-shard-agent-modes2-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a failed command leaves the config "not activated" until a command succeeds on it', async () => {
    const flag = join(dir, 'fail');
    writeFileSync(flag, '');
    const script = `if (require('fs').existsSync(${JSON.stringify(flag)})) process.exit(1)`;
    const file = join(dir, 'redis-shard.yml');
    writeFileSync(file, stringify(testDescription(BASE, { agent: { apply: 'exec', exec: [process.execPath, '-e', script] } })));
    const topo = loadTopology({ config: file });
    mkdirSync(proxyPaths(topo.stateDir).dir, { recursive: true });
    writeFileSync(proxyPaths(topo.stateDir).conf, renderNutcrackerYml(topo, {}, null));
    const applier = new ConfigApplier(topo, null, null);
    const next = applier.edit(await applier.readBase(), { s1: `127.0.0.1:${BASE + 1}` });
    expect((await applier.apply(next)).ok).toBe(false);
    // A new process (restarted agent, notify) sees the file as written but not in effect.
    const fresh = new ConfigApplier(topo, null, null);
    const base = await fresh.readBase();
    expect(base.servers.s1).toBe(`127.0.0.1:${BASE + 1}`);
    expect(fresh.needsActivation(base)).toBe(true);
    rmSync(flag);
    expect((await fresh.apply(base.text, { force: true })).ok).toBe(true);
    expect(fresh.needsActivation(base)).toBe(false);
  });
});

describe('concurrent applies', () => {
  const dir = mkdtempSync(join(tmpdir(), 'redis-shard-agent-modes3-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('two edits of different shards at once both land: each is computed from the config under the lock', async () => {
    const file = join(dir, 'redis-shard.yml');
    writeFileSync(file, stringify(testDescription(BASE, { agent: { apply: 'staging' } })));
    const topo = loadTopology({ config: file });
    mkdirSync(proxyPaths(topo.stateDir).dir, { recursive: true });
    writeFileSync(proxyPaths(topo.stateDir).conf, renderNutcrackerYml(topo, {}, null));
    const applier = new ConfigApplier(topo, null, null);
    const s1 = `127.0.0.1:${BASE + 2}`;
    const s2 = `127.0.0.1:${BASE + 11}`;
    const [a, b] = await Promise.all([
      applier.apply((base) => applier.edit(base, { s1 })),
      applier.apply((base) => applier.edit(base, { s2 })),
    ]);
    expect(a.ok && b.ok).toBe(true);
    const servers = Object.fromEntries(readPoolServers(readFileSync(topo.stagingFile, 'utf8'), 'redis-shard').map((s) => [s.name, s.addr]));
    expect(servers).toEqual({ s1, s2 });
    // A guard that no longer holds writes nothing.
    const skipped = await applier.apply((base) => (base.servers.s1 === `127.0.0.1:${BASE}` ? applier.edit(base, { s1: `127.0.0.1:${BASE + 1}` }) : null));
    expect(skipped.ok && skipped.changed).toBe(false);
  });
});
