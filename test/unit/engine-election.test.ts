import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { askShards, classifyError, elect, electAll, pluralityView, querySentinels, type Vote } from '../../src/engine/index.js';

const yes = (sentinel: string, addr: string, epoch = 1, failoverInProgress = false): Vote => ({ sentinel, ok: true, addr, epoch, failoverInProgress });
const no = (sentinel: string, error = 'connection refused'): Vote => ({ sentinel, ok: false, error });

describe('elect: majority of the configured sentinels, highest config-epoch', () => {
  it('elects what a majority reports', () => {
    expect(elect([yes('x', 'a'), yes('y', 'a'), yes('z', 'a')], 3)).toMatchObject({ ok: true, master: 'a', agreeing: 3, of: 3, epoch: 1 });
    expect(elect([yes('x', 'a'), yes('y', 'a'), no('z')], 3)).toMatchObject({ ok: true, master: 'a', agreeing: 2 });
  });
  it('a lone answer is no majority, however the others failed (1 of 1 answering is 1 of 3 configured)', () => {
    const e = elect([yes('x', 'a'), no('y'), no('z', 'NOAUTH')], 3);
    expect(e).toMatchObject({ ok: false, reason: 'no-majority', soon: false });
    expect(!e.ok && e.detail).toMatch(/1 of 3 sentinels answered, 2 needed.*y: connection refused; z: NOAUTH/);
  });
  it('counts against the configured number, not the answers given', () => {
    // Two answers agreeing is not a majority of five.
    expect(elect([yes('x', 'a'), yes('y', 'a')], 5)).toMatchObject({ ok: false, reason: 'no-majority' });
  });
  it('the highest config-epoch names the candidate; a minority ahead is waiting, not elected', () => {
    expect(elect([yes('x', 'b', 2), yes('y', 'a', 1), yes('z', 'a', 1)], 3)).toMatchObject({ ok: false, reason: 'waiting-for-majority', soon: true });
    expect(elect([yes('x', 'b', 2), yes('y', 'b', 1), yes('z', 'a', 1)], 3)).toMatchObject({ ok: true, master: 'b', epoch: 2, agreeing: 2 });
  });
  it('sentinels at the top epoch that disagree elect nobody', () => {
    expect(elect([yes('x', 'a', 3), yes('y', 'b', 3), yes('z', 'a', 3)], 3)).toMatchObject({ ok: false, reason: 'epoch-conflict' });
  });
  it('reports a failover in progress either way', () => {
    expect(elect([yes('x', 'a', 1, true), yes('y', 'a'), yes('z', 'a')], 3)).toMatchObject({ ok: true, failoverInProgress: true });
  });
});

describe('pluralityView is display only', () => {
  it('counts the answering sentinels', () => {
    expect(pluralityView([yes('x', 'a'), no('y'), no('z')])).toEqual({ votes: [{ addr: 'a', sentinels: 1 }], answering: 1, unanimous: true });
    expect(pluralityView([yes('x', 'a'), yes('y', 'b'), yes('z', 'a')]).votes).toEqual([{ addr: 'a', sentinels: 2 }, { addr: 'b', sentinels: 1 }]);
  });
});

describe('askShards: typed answers from one connection', () => {
  const master = (ip: string, port: string, epoch: string) => ['name', 's1', 'ip', ip, 'port', port, 'flags', 'master', 'config-epoch', epoch, 'num-slaves', '2'];
  it('parses both replies, and types each failure', async () => {
    const call = async (...args: string[]): Promise<unknown> => {
      const [, sub, name] = args;
      if (name === 's1') return sub === 'GET-MASTER-ADDR-BY-NAME' ? ['127.0.0.1', '6667'] : master('127.0.0.1', '6666', '4');
      if (name === 'gone') return sub === 'GET-MASTER-ADDR-BY-NAME' ? null : Promise.reject(new Error('ERR No such master with that name'));
      if (name === 'junk') return sub === 'GET-MASTER-ADDR-BY-NAME' ? ['127.0.0.1', 'x'] : [];
      throw new Error('NOAUTH Authentication required.');
    };
    const r = await askShards(call, ['s1', 'gone', 'junk', 'locked']);
    // The handed-out address and the master record are kept apart: they differ right after a promotion.
    expect(r.s1).toMatchObject({ ok: true, addr: '127.0.0.1:6667', recordAddr: '127.0.0.1:6666', epoch: 4, replicas: 2 });
    expect(r.gone).toMatchObject({ ok: false, failure: { kind: 'not-monitored' } });
    expect(r.junk).toMatchObject({ ok: false, failure: { kind: 'bad-reply' } });
    expect(r.locked).toMatchObject({ ok: false, failure: { kind: 'auth-refused' } });
  });
  it('classifies connection errors', () => {
    expect(classifyError(new Error('connect ECONNREFUSED 127.0.0.1:1'))).toMatchObject({ kind: 'down' });
    expect(classifyError(new Error('WRONGPASS invalid username-password pair'))).toMatchObject({ kind: 'auth-refused' });
    expect(classifyError(new Error('connect ETIMEDOUT'))).toMatchObject({ kind: 'timeout' });
  });
});

describe('querySentinels over real sockets', () => {
  let silent: Server | null = null;
  afterEach(() => silent?.close());
  it('a refused port is down, a silent one times out, and neither stalls the others', async () => {
    // 24090: nothing listens (our range); 24091: accepts and never answers.
    silent = createServer(() => {});
    await new Promise<void>((r) => silent!.listen(24091, '127.0.0.1', () => r()));
    const t0 = Date.now();
    const reports = await querySentinels(['127.0.0.1:24090', '127.0.0.1:24091'], ['s1'], null, 300);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(reports[0]).toMatchObject({ sentinel: '127.0.0.1:24090', ok: false, failure: { kind: 'down' } });
    expect(reports[1]).toMatchObject({ sentinel: '127.0.0.1:24091', ok: false, failure: { kind: 'timeout' } });
    const e = electAll(reports, ['s1']).s1!;
    expect(e).toMatchObject({ ok: false, reason: 'no-majority' });
  });
});
