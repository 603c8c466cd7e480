import { describe, expect, it } from 'vitest';
import { balanceWarning, clientRejections, rejectionsWarning } from '../../src/ops/status-clients.js';
import { parseRejections } from '../../src/runtime/index.js';

const LOG = `[2026-12-01 10:00:00.000] nc.c:182 nutcracker-0.5.0 built for Linux started on pid 1
[2026-12-01 10:00:01.500] nc_redis.c:1324 parsed unsupported command 'hello'
[2026-12-01 10:20:00.100] nc_redis.c:1324 parsed unsupported command 'hello'
[2026-12-01 10:20:00.200] nc_redis.c:1324 parsed unsupported command 'client'
[2026-12-01 10:20:01.000] nc_redis.c:1324 parsed unsupported command 'HELLO'
[2026-12-01 10:20:02.000] nc_core.c:237 close s 10 '127.0.0.1:6666' on event 0019 eof 1 done 0 rb 0 sb 0
`;

describe('status: connections the proxy closed over unsupported commands', () => {
  it('counts the lines in the window only, by upper-cased command, most frequent first', () => {
    const r = parseRejections(LOG, new Date(2026, 11, 1, 10, 10, 0));
    expect(r.connectionsClosed).toBe(3);
    expect(r.commands).toEqual([
      { command: 'HELLO', count: 2, lastAt: new Date(2026, 11, 1, 10, 20, 1).toISOString() },
      { command: 'CLIENT', count: 1, lastAt: new Date(2026, 11, 1, 10, 20, 0, 200).toISOString() },
    ]);
    expect(parseRejections(LOG, new Date(2026, 11, 1, 9, 0, 0)).connectionsClosed).toBe(4);
  });

  it('a warning names the commands, the usual cause and the doc; none when nothing was closed', () => {
    const rep = clientRejections(parseRejections(LOG, new Date(2026, 11, 1, 10, 10, 0)), 15 * 60_000);
    expect(rep.commands[0]).toMatchObject({ command: 'HELLO', cause: expect.stringContaining('protocol 2') });
    expect(rejectionsWarning(rep)).toMatch(/closed 3 client connections in the last 15 min .*HELLO x2 .*docs\/clients\.md/);
    expect(rejectionsWarning(clientRejections(parseRejections('', new Date(0)), 60_000))).toBeNull();
  });
});

describe('status: keys spread unlike the ring predicts', () => {
  const shard = (name: string, keys: number, total: number, predicted: number) => ({ name, keys, keyShare: keys / total, predictedShare: predicted });
  it('warns past chance, naming the hash when it is one that spreads counters badly', () => {
    const w = balanceWarning([shard('s1', 2000, 3000, 0.5), shard('s2', 1000, 3000, 0.5)], 'fnv1a_64');
    expect(w).toMatch(/s1 66\.7% \(ring 50\.0%\).*fnv1a_64.*murmur.*reshard/);
    expect(balanceWarning([shard('s1', 2000, 3000, 0.5), shard('s2', 1000, 3000, 0.5)], 'murmur')).toMatch(/hash tags/);
  });
  it('quiet within chance, and with few keys', () => {
    expect(balanceWarning([shard('s1', 1530, 3000, 0.5), shard('s2', 1470, 3000, 0.5)], 'fnv1a_64')).toBeNull();
    expect(balanceWarning([shard('s1', 300, 400, 0.5), shard('s2', 100, 400, 0.5)], 'fnv1a_64')).toBeNull();
  });
});
