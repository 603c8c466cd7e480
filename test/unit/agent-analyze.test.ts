import { describe, expect, it } from 'vitest';
import { analyze, decideShard, type SentinelAnswer, type ShardInput } from '../../src/agent/index.js';

const S = ['127.0.0.1:26379', '127.0.0.1:26380', '127.0.0.1:26381'];
const A = '127.0.0.1:6666';
const B = '127.0.0.1:6667';
const C = '127.0.0.1:6668';

const ok = (i: number, addr: string, epoch: number, failoverInProgress = false): SentinelAnswer => ({ sentinel: S[i]!, ok: true, addr, epoch, failoverInProgress });
const down = (i: number, error = 'connect ECONNREFUSED'): SentinelAnswer => ({ sentinel: S[i]!, ok: false, error });

function shard(over: Partial<ShardInput>): ShardInput {
  return { shard: 's1', instances: [A, B, C], current: A, answers: [ok(0, A, 0), ok(1, A, 0), ok(2, A, 0)], roles: {}, fastSwitch: null, ...over };
}

describe('analyze: the majority rule', () => {
  it('does nothing when all sentinels agree with the proxy', () => {
    expect(decideShard(shard({}), 3)).toEqual({ shard: 's1', action: 'none', addr: A, epoch: 0 });
  });

  it('switches when a majority at the highest epoch agrees and the target says master', () => {
    const d = decideShard(shard({ answers: [ok(0, B, 1), ok(1, B, 1), ok(2, A, 0)], roles: { B: { role: 'master' }, [B]: { role: 'master' } } }), 3);
    expect(d).toEqual({ shard: 's1', action: 'switch', from: A, to: B, epoch: 1, agreeing: 2, of: 3 });
  });

  it('waits while only the leader knows the new master (a minority ahead)', () => {
    const d = decideShard(shard({ answers: [ok(0, B, 1, true), ok(1, A, 0), ok(2, A, 0)], roles: { [B]: { role: 'master' } } }), 3);
    expect(d).toMatchObject({ action: 'hold', reason: 'waiting-for-majority', soon: true });
  });

  it('does nothing without a majority of answers, even if the answers agree on something new', () => {
    const d = decideShard(shard({ answers: [ok(0, B, 1), down(1), down(2, 'Command timed out')], roles: { [B]: { role: 'master' } } }), 3);
    expect(d).toMatchObject({ action: 'hold', reason: 'no-majority', soon: false });
    expect((d as { detail: string }).detail).toContain('1 of 3 sentinels answered, 2 needed');
  });

  it('follows with one of three sentinels down', () => {
    const d = decideShard(shard({ answers: [ok(0, B, 1), down(1), ok(2, B, 1)], roles: { [B]: { role: 'master' } } }), 3);
    expect(d).toMatchObject({ action: 'switch', to: B, agreeing: 2 });
  });

  it('counts the majority against all configured sentinels, not those that answered', () => {
    // 5 sentinels, 2 agree on B, 3 silent: 2 is not a majority of 5.
    const answers = [ok(0, B, 1), ok(1, B, 1), down(2), { ...down(0), sentinel: 'x:1' }, { ...down(0), sentinel: 'x:2' }];
    expect(decideShard(shard({ answers, roles: { [B]: { role: 'master' } } }), 5)).toMatchObject({ action: 'hold', reason: 'no-majority' });
  });

  it('takes the highest config-epoch, not the most common stale answer', () => {
    // Two at epoch 2 say C; one still at epoch 1 says B.
    const d = decideShard(shard({ current: B, answers: [ok(0, C, 2), ok(1, B, 1), ok(2, C, 2)], roles: { [C]: { role: 'master' } } }), 3);
    expect(d).toMatchObject({ action: 'switch', from: B, to: C, epoch: 2 });
  });

  it('holds when sentinels at the same highest epoch disagree', () => {
    const d = decideShard(shard({ answers: [ok(0, B, 2), ok(1, C, 2), ok(2, B, 1)], roles: {} }), 3);
    expect(d).toMatchObject({ action: 'hold', reason: 'epoch-conflict' });
  });

  it('never points the proxy at an instance that says it is a replica', () => {
    const d = decideShard(shard({ answers: [ok(0, B, 1), ok(1, B, 1), ok(2, B, 1)], roles: { [B]: { role: 'slave', master: A, linkState: 'connected' } } }), 3);
    expect(d).toMatchObject({ action: 'hold', reason: 'target-not-master' });
  });

  it('holds when the target does not answer ROLE', () => {
    const d = decideShard(shard({ answers: [ok(0, B, 1), ok(1, B, 1), ok(2, B, 1)], roles: { [B]: { error: 'ECONNREFUSED' } } }), 3);
    expect(d).toMatchObject({ action: 'hold', reason: 'unconfirmed', soon: true });
  });

  it('refuses an address that is not an instance of the shard', () => {
    const stranger = '10.9.9.9:6379';
    const d = decideShard(shard({ answers: [ok(0, stranger, 5), ok(1, stranger, 5), ok(2, A, 0)], roles: { [stranger]: { role: 'master' } } }), 3);
    expect(d).toMatchObject({ action: 'hold', reason: 'not-an-instance' });
  });

  it('treats garbage answers as no answer', () => {
    const d = decideShard(shard({ answers: [down(0, 'expected [ip, port], got "lol"'), down(1, 'config-epoch "x" is not a number'), ok(2, B, 9)], roles: { [B]: { role: 'master' } } }), 3);
    expect(d).toMatchObject({ action: 'hold', reason: 'no-majority' });
  });

  it('is already done when the proxy points where the majority says (no ROLE needed)', () => {
    const d = decideShard(shard({ current: B, answers: [ok(0, B, 1), ok(1, B, 1), ok(2, A, 0)], roles: {} }), 3);
    expect(d).toMatchObject({ action: 'none', addr: B });
  });

  it('a failover in progress does not by itself block a confirmed switch', () => {
    const d = decideShard(shard({ answers: [ok(0, B, 1, true), ok(1, B, 1), ok(2, A, 0)], roles: { [B]: { role: 'master' } } }), 3);
    expect(d).toMatchObject({ action: 'switch', to: B });
  });
});

describe('analyze: the fast path and the majority', () => {
  const fastSwitch = { from: A, to: B };

  it('does not undo an early switch while the failover is in progress and the early target is master', () => {
    // The majority still reports the old master A (which came back as master before Sentinel demoted it).
    const d = decideShard(
      shard({ current: B, fastSwitch, answers: [ok(0, A, 0, true), ok(1, A, 0), ok(2, A, 0)], roles: { [A]: { role: 'master' }, [B]: { role: 'master' } } }),
      3,
    );
    expect(d).toMatchObject({ action: 'hold', reason: 'fast-switch-pending' });
  });

  it('overrides an early switch once no sentinel reports the failover in progress (aborted failover)', () => {
    const d = decideShard(
      shard({ current: B, fastSwitch, answers: [ok(0, A, 0), ok(1, A, 0), ok(2, A, 0)], roles: { [A]: { role: 'master' }, [B]: { role: 'master' } } }),
      3,
    );
    expect(d).toMatchObject({ action: 'switch', from: B, to: A });
  });

  it('overrides an early switch when the early target no longer says master', () => {
    const d = decideShard(
      shard({ current: B, fastSwitch, answers: [ok(0, A, 0, true), ok(1, A, 0), ok(2, A, 0)], roles: { [A]: { role: 'master' }, [B]: { role: 'slave', master: A, linkState: 'connect' } } }),
      3,
    );
    expect(d).toMatchObject({ action: 'switch', to: A });
  });

  it('ends on what the majority finally agrees, even if that is not the early target', () => {
    const d = decideShard(shard({ current: B, fastSwitch, answers: [ok(0, C, 2), ok(1, C, 2), ok(2, C, 2)], roles: { [C]: { role: 'master' }, [B]: { role: 'master' } } }), 3);
    expect(d).toMatchObject({ action: 'switch', from: B, to: C });
  });

  it('keeps the early switch while the majority still names the dead old master', () => {
    const d = decideShard(shard({ current: B, fastSwitch, answers: [ok(0, A, 0, true), ok(1, A, 0), ok(2, A, 0)], roles: { [A]: { error: 'ECONNREFUSED' }, [B]: { role: 'master' } } }), 3);
    expect(d).toMatchObject({ action: 'hold', reason: 'unconfirmed' });
  });
});

describe('analyze: a fenced shard (agent/fence.ts) and a failover in progress', () => {
  const FENCE = '127.0.0.1:1';
  it('the majority names the old master while a sentinel is failing the shard over (a split just healed): stays fenced', () => {
    // Supervise mode: the server line holds the fence address, so lifting it is a switch to the named master.
    const d = decideShard(shard({ current: FENCE, fenced: true, fencedFrom: A, answers: [ok(0, A, 3, true), ok(1, A, 3), ok(2, A, 3)], roles: { [A]: { role: 'master' } } }), 3);
    expect(d).toMatchObject({ action: 'hold', reason: 'fenced-failover-in-progress', soon: true });
    // Mode haproxy: the backend keeps the old master's address, so the majority's answer matches it.
    expect(decideShard(shard({ fenced: true, fencedFrom: A, answers: [ok(0, A, 3, true), ok(1, A, 3), ok(2, A, 3)] }), 3)).toMatchObject({ action: 'hold', reason: 'fenced-failover-in-progress' });
  });

  it('the majority already names the new master while the leader still reconfigures replicas: lifted onto it at once', () => {
    const answers = [ok(0, B, 4, true), ok(1, B, 4), ok(2, A, 3)];
    expect(decideShard(shard({ current: FENCE, fenced: true, fencedFrom: A, answers, roles: { [B]: { role: 'master' } } }), 3)).toMatchObject({ action: 'switch', to: B });
    expect(decideShard(shard({ fenced: true, fencedFrom: A, answers, roles: { [B]: { role: 'master' } } }), 3)).toMatchObject({ action: 'switch', to: B });
    // Where the fence came from unknown (an agent restarted while fenced, supervise mode): it waits for the end.
    expect(decideShard(shard({ current: FENCE, fenced: true, fencedFrom: null, answers, roles: { [B]: { role: 'master' } } }), 3)).toMatchObject({ action: 'hold', reason: 'fenced-failover-in-progress' });
  });

  it('once the failover has ended (or aborted) the majority decides as usual: the switch that lifts the fence', () => {
    expect(decideShard(shard({ current: FENCE, fenced: true, answers: [ok(0, B, 4), ok(1, B, 4), ok(2, A, 3)], roles: { [B]: { role: 'master' } } }), 3)).toMatchObject({ action: 'switch', to: B });
    expect(decideShard(shard({ fenced: true, answers: [ok(0, A, 3), ok(1, A, 3), ok(2, A, 3)] }), 3)).toMatchObject({ action: 'none', addr: A });
  });

  it('an unfenced shard follows the usual rule during a failover (the proxy stays where the majority says)', () => {
    expect(decideShard(shard({ answers: [ok(0, A, 3, true), ok(1, A, 3), ok(2, A, 3)] }), 3)).toMatchObject({ action: 'none', addr: A });
  });
});

describe('analyze: several shards', () => {
  it('collects switches and asks for a quick rerun only while something is in flight', () => {
    const s2 = shard({ shard: 's2', instances: ['127.0.0.1:7666', '127.0.0.1:7667'], current: '127.0.0.1:7666', answers: [ok(0, '127.0.0.1:7666', 0), ok(1, '127.0.0.1:7666', 0), ok(2, '127.0.0.1:7666', 0)] });
    const s1 = shard({ answers: [ok(0, B, 1), ok(1, B, 1), ok(2, B, 1)], roles: { [B]: { role: 'master' } } });
    const a = analyze({ sentinelCount: 3, shards: [s1, s2] });
    expect(a.switches).toEqual({ s1: B });
    expect(a.rerunSoon).toBe(false);
    const b = analyze({ sentinelCount: 3, shards: [shard({ answers: [ok(0, B, 1), ok(1, A, 0), ok(2, A, 0)] }), s2] });
    expect(b.switches).toEqual({});
    expect(b.rerunSoon).toBe(true);
  });

  it('is idempotent: the same world twice gives the same decisions', () => {
    const input = { sentinelCount: 3, shards: [shard({ answers: [ok(0, B, 1), ok(1, B, 1), ok(2, A, 0)], roles: { [B]: { role: 'master' as const } } })] };
    expect(analyze(input)).toEqual(analyze(input));
  });
});

describe('addressesToProbe', () => {
  it('asks ROLE only of the shard instances the sentinels name', async () => {
    const { addressesToProbe } = await import('../../src/agent/index.js');
    const s = shard({ answers: [ok(0, B, 1), ok(1, '127.0.0.1:1', 9), ok(2, A, 0)] });
    expect(addressesToProbe(s)).toEqual([B]);
    expect(addressesToProbe(shard({ current: B, fastSwitch: { from: A, to: B }, answers: [ok(0, A, 0), ok(1, A, 0), ok(2, A, 0)] })).sort()).toEqual([A, B].sort());
  });
});
