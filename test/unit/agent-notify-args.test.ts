import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/errors.js';
import { parseNotifyArgs } from '../../src/agent/index.js';

const good = ['s1', 'leader', 'start', '127.0.0.1', '6666', '127.0.0.1', '6667'];

describe('notify arguments', () => {
  it('accepts what Sentinel passes', () => {
    expect(parseNotifyArgs(good)).toEqual({ master: 's1', role: 'leader', state: 'start', from: '127.0.0.1:6666', to: '127.0.0.1:6667' });
    expect(parseNotifyArgs(['s1', 'observer', 'start', '::1', '6666', '::1', '6667']).to).toBe('[::1]:6667');
    expect(parseNotifyArgs(['s1', 'observer', 'start', 'redis-a.example', '6666', 'redis-b', '6667']).to).toBe('redis-b:6667');
  });

  const cases: Array<[string, string[], RegExp]> = [
    ['too few', good.slice(0, 6), /expected 7 arguments/],
    ['too many', [...good, 'x'], /expected 7 arguments/],
    ['empty master', ['', ...good.slice(1)], /master-name/],
    ['shell in master', ['s1;rm -rf /', ...good.slice(1)], /master-name/],
    ['role', ['s1', 'boss', ...good.slice(2)], /role/],
    ['state', ['s1', 'leader', 'end', ...good.slice(3)], /state/],
    ['ip with spaces', [...good.slice(0, 5), '127.0.0.1 6668', '6667'], /to-ip/],
    ['ip with $()', [...good.slice(0, 3), '$(reboot)', ...good.slice(4)], /from-ip/],
    ['ip with newline', [...good.slice(0, 5), '127.0.0.1\n', '6667'], /to-ip/],
    ['port zero', [...good.slice(0, 6), '0'], /to-port/],
    ['port too big', [...good.slice(0, 6), '65536'], /to-port/],
    ['port negative', [...good.slice(0, 4), '-1', ...good.slice(5)], /from-port/],
    ['port with sign', [...good.slice(0, 6), '+6667'], /to-port/],
    ['port leading zero', [...good.slice(0, 6), '06667'], /to-port/],
    ['port hex', [...good.slice(0, 6), '0x1a0b'], /to-port/],
    ['port float', [...good.slice(0, 6), '6667.0'], /to-port/],
    ['ip overflow octets', [...good.slice(0, 5), '999.1.1.1.1', '6667'], /to-ip/],
  ];
  for (const [name, argv, msg] of cases) {
    it(`rejects ${name}`, () => {
      expect(() => parseNotifyArgs(argv)).toThrow(InvalidInputError);
      expect(() => parseNotifyArgs(argv)).toThrow(msg);
    });
  }

  it('bad input is exit code 2 (Sentinel does not retry)', () => {
    try {
      parseNotifyArgs([]);
    } catch (e) {
      expect((e as InvalidInputError).exitCode).toBe(2);
    }
  });
});
