import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { up } from '../../src/runtime/index.js';
import { client, editDescription, finishAndVerify, loadAndSnapshot, proxyMasters, Workload } from './reshard-helpers.js';
import { prepareStack, type TestStack } from '../support/stack.js';

// Ports 31450-31499: s1 31450-2, s2 31460-2, sentinels 31470-2, proxy 31480/81, HAProxy frontends 31490-2
// (derived), added s3 31495-7.
const BASE = 31450;
const a = (p: number) => `127.0.0.1:${BASE + p}`;
const SECRET = 'reshard-pass:&$igns!#%';

describe('reshard on a password-protected stack: add a shard under load', () => {
  let s: TestStack;
  beforeAll(async () => {
    s = prepareStack(BASE, { auth: { passwordFile: 'password' } });
    writeFileSync(join(s.dir, 'password'), `${SECRET}\n`, { mode: 0o600 });
    try {
      await up(s.topo, { timeoutMs: 60_000 });
    } catch (e) {
      await s.stop();
      throw e;
    }
  }, 120_000);
  afterAll(async () => {
    await s?.stop();
  }, 60_000);

  it('every connection of the copy authenticates (snapshot, writer, keyspace subscription, cut); every key right', async () => {
    // Without the password, the proxy refuses: the stack really is protected.
    const anonymous = client(s.topo.proxy.listen);
    await expect(anonymous.get('x')).rejects.toThrow(/NOAUTH|auth/i);
    anonymous.disconnect();

    const before = await loadAndSnapshot(s);
    editDescription(s, (d) => {
      (d.shards as unknown[]).push({ name: 's3', master: a(45), instances: [a(45), a(46), a(47)] });
    });
    const w = new Workload(s.topo.proxy.listen, { password: SECRET });
    w.start();
    const r = await s.cli(['reshard', '--yes', '--json']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const events = await finishAndVerify(s, w, before, r.stdout);
    // Unthrottled: both sources went from a snapshot (not key by key after a refused AUTH).
    for (const shard of ['s1', 's2']) {
      expect(events.some((e) => e.type === 'info' && String(e.message).startsWith(`shard ${shard}: snapshot of `)), `a snapshot pass of ${shard}`).toBe(true);
    }
    expect(events.filter((e) => e.type === 'repass')).toEqual([]);
    expect(Object.keys(proxyMasters(s.topo)).sort()).toEqual(['s1', 's2', 's3']);
  }, 240_000);
});
