import { describe, expect, it } from 'vitest';
import { confirmedMaster, decideFence, unfenceOnMajority, type FenceSettings, type FenceShardInput } from '../../src/agent/fence.js';
import { readHaproxyFenced, readHaproxyServers, setHaproxyFenced, setHaproxyServers } from '../../src/render/index.js';

const M = '10.0.0.1:6379';
const R1 = '10.0.0.2:6379';
const R2 = '10.0.0.3:6379';
const FENCE = '127.0.0.1:1';
const on: FenceSettings = { enabled: true, afterMs: 1000, address: FENCE };
const down = { error: 'no answer within 300 ms' };
const master = { role: 'master' as const };
const replicaOf = (m: string, linkState = 'connected') => ({ role: 'slave' as const, master: m, linkState });

function input(over: Partial<FenceShardInput>): FenceShardInput {
  return {
    shard: 's1',
    instances: [M, R1, R2],
    current: M,
    fenced: false,
    noMajoritySince: 0,
    roles: { [M]: master, [R1]: down, [R2]: down },
    now: 1500,
    ...over,
  };
}

describe('fencing decision', () => {
  it('fences when the majority has been missing longer than afterMs and no replica here follows the master (the Jepsen case)', () => {
    expect(decideFence(on, input({}))).toMatchObject({ action: 'fence', from: M, noMajorityMs: 1500 });
  });

  it('never while the majority is there (normal failovers, a sentinel host cut off)', () => {
    expect(decideFence(on, input({ noMajoritySince: null }))).toEqual({ action: 'none' });
  });

  it('not before afterMs has passed', () => {
    expect(decideFence(on, input({ now: 1000 }))).toEqual({ action: 'none' });
  });

  it('not when a reachable replica is connected to the master (the agent cut off from the sentinels only)', () => {
    expect(decideFence(on, input({ roles: { [M]: master, [R1]: replicaOf(M), [R2]: down } }))).toEqual({ action: 'none' });
  });

  it('a replica of another master, or with its link down, does not confirm', () => {
    expect(decideFence(on, input({ roles: { [M]: master, [R1]: replicaOf(R2), [R2]: replicaOf(M, 'connect') } }))).toMatchObject({ action: 'fence' });
  });

  it('a master that does not answer (or says replica) is left alone: it acknowledges nothing, requests to it fail already', () => {
    expect(decideFence(on, input({ roles: { [M]: down, [R1]: down, [R2]: down } }))).toEqual({ action: 'none' });
    expect(decideFence(on, input({ roles: { [M]: replicaOf(R1), [R1]: down, [R2]: down } }))).toEqual({ action: 'none' });
  });

  it('off means off', () => {
    expect(decideFence({ ...on, enabled: false }, input({}))).toEqual({ action: 'none' });
  });

  it('a shard already fenced stays fenced while the majority is missing, even when a replica here says it follows the old master', () => {
    // The partition test's failure: just after a heal, a replica that had been cut off with the majority still
    // said "connected" to the old master (a replica sees a dead link only after repl-timeout) while the majority
    // was promoting another one. Unfencing on that acknowledged writes the promotion then discarded.
    expect(decideFence(on, input({ current: FENCE, fenced: true }))).toEqual({ action: 'none' });
    expect(decideFence(on, input({ current: FENCE, fenced: true, roles: { [M]: master, [R1]: replicaOf(M), [R2]: down } }))).toEqual({ action: 'none' });
    expect(decideFence(on, input({ current: FENCE, fenced: true, roles: { [M]: master, [R1]: replicaOf(M), [R2]: master } }))).toEqual({ action: 'none' });
    expect(decideFence(on, input({ current: FENCE, fenced: true, roles: { [M]: master, [R1]: replicaOf(M), [R2]: replicaOf(M) } }))).toEqual({ action: 'none' });
  });

  it('leaves a proxy pointing outside the shard alone', () => {
    expect(decideFence(on, input({ current: '10.9.9.9:1' }))).toEqual({ action: 'none' });
  });

  it('confirmedMaster explains itself', () => {
    expect(confirmedMaster(M, [M, R1], { [M]: replicaOf(R1), [R1]: master })).toEqual({ ok: false, why: `${M} says ROLE slave` });
    expect(confirmedMaster(M, [M, R1], { [M]: master, [R1]: replicaOf(M) })).toEqual({ ok: true, why: `${R1} replicate from it` });
  });

  it('mode haproxy: a fenced shard keeps its address (the backend in maintenance); never fenced twice, never unfenced without the majority', () => {
    // The backend still holds M, so current = M, and the decision is about the state, not the address.
    expect(decideFence(on, input({ fenced: true }))).toEqual({ action: 'none' });
    expect(decideFence(on, input({ fenced: true, roles: { [M]: master, [R1]: replicaOf(M), [R2]: replicaOf(M) } }))).toEqual({ action: 'none' });
  });
});

describe('unfencing when the majority is back (any mode, fence setting on or off)', () => {
  const none = { shard: 's1', action: 'none' as const, addr: M, epoch: 3 };
  const sw = { shard: 's1', action: 'switch' as const, from: M, to: R1, epoch: 4, agreeing: 2, of: 3 };
  const hold = (reason: 'no-majority' | 'waiting-for-majority' | 'target-not-master') => ({ shard: 's1', action: 'hold' as const, reason, detail: '', soon: true });

  it('the majority names the master the shard was fenced on (no failover happened): unfenced there', () => {
    expect(unfenceOnMajority(true, none)).toMatchObject({ action: 'unfence', to: M });
  });

  it('a failover happened during the fence: unfenced onto the elected master, with the switch', () => {
    expect(unfenceOnMajority(true, sw)).toMatchObject({ action: 'unfence', to: R1 });
  });

  it('no majority, or a majority not settled yet: stays fenced; an unfenced shard is left alone', () => {
    expect(unfenceOnMajority(true, hold('no-majority'))).toEqual({ action: 'none' });
    expect(unfenceOnMajority(true, hold('waiting-for-majority'))).toEqual({ action: 'none' });
    expect(unfenceOnMajority(true, hold('target-not-master'))).toEqual({ action: 'none' });
    expect(unfenceOnMajority(false, none)).toEqual({ action: 'none' });
    expect(unfenceOnMajority(false, sw)).toEqual({ action: 'none' });
  });
});

describe('haproxy.cfg fence lines (a restarted HAProxy starts fenced)', () => {
  const cfg = ['frontend fe_s1', '    bind 127.0.0.1:22131', '    default_backend be_s1', '', 'backend be_s1', `    server s1 ${M}`, '', 'backend be_s2', `    server s2 ${R2}`, ''].join('\n');

  it('fences and unfences one shard by its server line, keeping its address and every other line', () => {
    const fenced = setHaproxyFenced(cfg, { s1: true });
    expect(fenced).toContain(`    server s1 ${M} disabled`);
    expect(readHaproxyFenced(fenced)).toEqual(['s1']);
    expect(readHaproxyServers(fenced)).toEqual(readHaproxyServers(cfg));
    expect(setHaproxyFenced(fenced, { s1: true })).toBe(fenced);
    expect(setHaproxyFenced(fenced, { s1: false })).toBe(cfg);
    expect(readHaproxyFenced(cfg)).toEqual([]);
  });

  it('an address switch keeps the fence (only the majority lifts it)', () => {
    const moved = setHaproxyServers(setHaproxyFenced(cfg, { s1: true }), { s1: R1 });
    expect(readHaproxyServers(moved).s1).toBe(R1);
    expect(readHaproxyFenced(moved)).toEqual(['s1']);
  });

  it('names a shard it cannot find', () => {
    expect(() => setHaproxyFenced(cfg, { s9: true })).toThrow(/s9/);
  });
});
