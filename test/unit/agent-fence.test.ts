import { describe, expect, it } from 'vitest';
import { confirmedMaster, decideFence, type FenceSettings, type FenceShardInput } from '../../src/agent/fence.js';

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
    noMajoritySince: 0,
    fencedFrom: null,
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

  it('a shard already fenced is unfenced when the master it was fenced from is confirmed again, and only then', () => {
    expect(decideFence(on, input({ current: FENCE, fencedFrom: M }))).toEqual({ action: 'none' });
    expect(decideFence(on, input({ current: FENCE, fencedFrom: M, roles: { [M]: master, [R1]: replicaOf(M), [R2]: down } }))).toMatchObject({ action: 'unfence', to: M });
    // Fenced by an earlier agent process: it does not know from where, so it waits for the majority.
    expect(decideFence(on, input({ current: FENCE, fencedFrom: null, roles: { [M]: master, [R1]: replicaOf(M), [R2]: down } }))).toEqual({ action: 'none' });
  });

  it('leaves a proxy pointing outside the shard alone', () => {
    expect(decideFence(on, input({ current: '10.9.9.9:1' }))).toEqual({ action: 'none' });
  });

  it('confirmedMaster explains itself', () => {
    expect(confirmedMaster(M, [M, R1], { [M]: replicaOf(R1), [R1]: master })).toEqual({ ok: false, why: `${M} says ROLE slave` });
    expect(confirmedMaster(M, [M, R1], { [M]: master, [R1]: replicaOf(M) })).toEqual({ ok: true, why: `${R1} replicate from it` });
  });
});
