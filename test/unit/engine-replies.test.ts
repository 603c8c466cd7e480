import { describe, expect, it } from 'vitest';
import { parseMasterAddrReply, parseResp, parseRoleReply, parseSentinelEvent, parseSentinelMasterReply } from '../../src/engine/index.js';

describe('sentinel replies', () => {
  it('GET-MASTER-ADDR-BY-NAME', () => {
    expect(parseMasterAddrReply(['127.0.0.1', '6666'])).toEqual({ addr: '127.0.0.1:6666' });
    expect(parseMasterAddrReply(['::1', '6666'])).toEqual({ addr: '[::1]:6666' });
    expect(parseMasterAddrReply(null)).toMatchObject({ error: expect.stringContaining('does not monitor') });
    for (const bad of [[], ['127.0.0.1'], ['127.0.0.1', 'x'], ['127.0.0.1', '99999'], ['a b', '1'], 'OK', 42, [['x'], '1']]) {
      expect(parseMasterAddrReply(bad)).toHaveProperty('error');
    }
  });

  const master = ['name', 's1', 'ip', '127.0.0.1', 'port', '6666', 'runid', 'abc', 'flags', 'master', 'config-epoch', '3', 'quorum', '2'];
  it('SENTINEL MASTER', () => {
    expect(parseSentinelMasterReply(master)).toEqual({
      addr: '127.0.0.1:6666', configEpoch: 3, flags: ['master'], failoverInProgress: false, down: false, replicas: null, otherSentinels: null,
    });
    expect(parseSentinelMasterReply([...master, 'num-slaves', '2', 'num-other-sentinels', '2'])).toMatchObject({ replicas: 2, otherSentinels: 2 });
    const f = [...master];
    f[9] = 'master,s_down,o_down,failover_in_progress';
    expect(parseSentinelMasterReply(f)).toMatchObject({ failoverInProgress: true, down: true });
  });

  it('SENTINEL MASTER garbage', () => {
    const withEpoch = (v: string) => master.map((x, i) => (i === 11 ? v : x));
    expect(parseSentinelMasterReply(withEpoch('-1'))).toHaveProperty('error');
    expect(parseSentinelMasterReply(withEpoch('1e3'))).toHaveProperty('error');
    expect(parseSentinelMasterReply(master.slice(0, 9))).toHaveProperty('error');
    expect(parseSentinelMasterReply(master.map((x, i) => (i === 9 ? 'slave' : x)))).toHaveProperty('error');
    expect(parseSentinelMasterReply(master.map((x, i) => (i === 3 ? 'not an ip' : x)))).toHaveProperty('error');
    expect(parseSentinelMasterReply('ERR')).toHaveProperty('error');
    expect(parseSentinelMasterReply(null)).toHaveProperty('error');
  });

  it('ROLE', () => {
    expect(parseRoleReply(['master', 100, []])).toEqual({ role: 'master' });
    expect(parseRoleReply(['slave', '127.0.0.1', 6666, 'connected', 100])).toEqual({ role: 'slave', master: '127.0.0.1:6666', linkState: 'connected' });
    expect(parseRoleReply(['sentinel', ['s1']])).toEqual({ role: 'sentinel' });
    expect(parseRoleReply(['whatever'])).toEqual({ role: 'unknown', text: 'whatever' });
    expect(parseRoleReply('PONG')).toHaveProperty('error');
  });
});

describe('sentinel events', () => {
  it('+switch-master', () => {
    expect(parseSentinelEvent('+switch-master', 's1 127.0.0.1 6666 127.0.0.1 6667')).toEqual({
      kind: 'switch-master', type: '+switch-master', shard: 's1', from: '127.0.0.1:6666', to: '127.0.0.1:6667',
    });
  });
  it('instance events, master and replica forms', () => {
    expect(parseSentinelEvent('+odown', 'master s1 127.0.0.1 6666 #quorum 2/2')).toMatchObject({ kind: 'instance', role: 'master', shard: 's1', addr: '127.0.0.1:6666' });
    expect(parseSentinelEvent('+selected-slave', 'slave 127.0.0.1:6667 127.0.0.1 6667 @ s1 127.0.0.1 6666')).toEqual({
      kind: 'instance', type: '+selected-slave', role: 'slave', addr: '127.0.0.1:6667', shard: 's1', masterAddr: '127.0.0.1:6666',
    });
  });
  it('garbage never throws and says why', () => {
    const cases: Array<[string, string]> = [
      ['+switch-master', 's1 127.0.0.1 6666'],
      ['+switch-master', 's1 127.0.0.1 6666 $(reboot) 6667'],
      ['+switch-master', 's1 127.0.0.1 6666 127.0.0.1 70000'],
      ['+selected-slave', 'slave 127.0.0.1:6667 127.0.0.1 6667'],
      ['+sdown', 'master'],
      ['+sdown', 'master s1 nope! 1'],
    ];
    for (const [ch, msg] of cases) expect(parseSentinelEvent(ch, msg)).toMatchObject({ kind: 'garbage' });
    expect(parseSentinelEvent('+tilt', '#tilt mode entered')).toMatchObject({ kind: 'other' });
    expect(parseSentinelEvent('__weird', '\u0000\u0001')).toMatchObject({ kind: 'other' });
  });
});

describe('RESP reader', () => {
  const b = (s: string) => Buffer.from(s);
  it('reads arrays, bulk strings, integers, errors; null when incomplete', () => {
    expect(parseResp(b('*3\r\n$6\r\nmaster\r\n:42\r\n*0\r\n'), 0)).toEqual({ value: ['master', 42, []], next: 25 });
    expect(parseResp(b('-NOAUTH Authentication required.\r\n'), 0)?.value).toEqual({ error: 'NOAUTH Authentication required.' });
    expect(parseResp(b('*2\r\n$6\r\nmas'), 0)).toBeNull();
    expect(parseResp(b('$-1\r\n'), 0)?.value).toBeNull();
    expect(() => parseResp(b('?what\r\n'), 0)).toThrow(/unexpected type/);
    expect(() => parseResp(b('*x\r\n'), 0)).toThrow(/bad length/);
  });
});
