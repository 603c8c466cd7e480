import { describe, expect, it } from 'vitest';
import { killCase } from '../../src/ops/failover-cases.js';
import { fromObject } from '../../src/topology/index.js';

const a = (p: number) => `127.0.0.1:${p}`;
// minReplicasToWrite 0: a one-instance shard could take no write otherwise, and the description is refused.
const topo = (shards: Array<{ name: string; ports: number[] }>) =>
  fromObject(
    {
      redis: { minReplicasToWrite: 0 },
      shards: shards.map((s) => ({ name: s.name, master: a(s.ports[0]!), instances: s.ports.map(a) })),
      sentinel: { instances: [a(26379), a(26380), a(26381)] },
      proxy: { listen: a(22121), stats: a(22222) },
    },
    null,
    '/tmp',
  );

describe('killCase: what each case of test.sh kills, from the masters of the moment', () => {
  const t = topo([
    { name: 's1', ports: [6666, 6667, 6668] },
    { name: 's2', ports: [7666, 7667, 7668] },
  ]);
  const masters = { s1: a(6668), s2: a(7667) };

  it('cases 2 and 3 kill the master of one shard', () => {
    expect(killCase(2, t, masters)).toMatchObject({ victims: [a(6668)], title: 'kill the master node of shard 1 (127.0.0.1 6668)', shards: [{ index: 0, name: 's1' }] });
    expect(killCase(3, t, masters)).toMatchObject({ victims: [a(7667)], shards: [{ index: 1, name: 's2' }] });
  });

  it('case 4 kills both masters at once', () => {
    expect(killCase(4, t, masters)).toMatchObject({ victims: [a(6668), a(7667)], title: 'kill the master nodes of shard 1 & 2 (127.0.0.1 6668, 127.0.0.1 7667)' });
  });

  it('case 5 kills each master and one replica, leaving one live instance per shard', () => {
    const c = killCase(5, t, masters);
    expect(c.victims).toEqual([a(6668), a(6666), a(7667), a(7666)]);
  });

  it('cases that a deployment cannot run are skipped with the reason', () => {
    const one = topo([{ name: 's1', ports: [6666, 6667, 6668] }]);
    expect(killCase(3, one, { s1: a(6666) }).victims).toEqual({ skip: 'there is no shard 2' });
    expect(killCase(4, one, { s1: a(6666) }).victims).toEqual({ skip: 'there is only one shard' });
    const small = topo([
      { name: 's1', ports: [6666, 6667] },
      { name: 's2', ports: [7666] },
    ]);
    expect(killCase(3, small, { s1: a(6666), s2: a(7666) }).victims).toEqual({ skip: 'shard 2 has no replica to fail over to' });
    expect(killCase(5, small, { s1: a(6666), s2: a(7666) }).victims).toMatchObject({ skip: expect.stringMatching(/fewer than 3 instances/) });
  });
});
