import { describe, expect, it } from 'vitest';
import { analyzeStatus as analyze, type InstanceObservation, type Observations } from '../../src/ops/status.js';
import { parseReplicationInfo } from '../../src/engine/index.js';
import { sentinelVerdict, type SentinelView } from '../../src/ops/sentinel-view.js';
import { fromObject } from '../../src/topology/index.js';

const topo = fromObject(
  {
    shards: [
      { name: 's1', master: '127.0.0.1:1000', instances: ['127.0.0.1:1000', '127.0.0.1:1001', '127.0.0.1:1002'] },
      { name: 's2', master: '127.0.0.1:2000', instances: ['127.0.0.1:2000', '127.0.0.1:2001', '127.0.0.1:2002'] },
    ],
    sentinel: { instances: ['127.0.0.1:3000', '127.0.0.1:3001', '127.0.0.1:3002'] },
    proxy: { listen: '127.0.0.1:4000', stats: '127.0.0.1:4001' },
    // nutcracker.yml names the masters itself in this mode; apply mode haproxy has its own tests below.
    agent: { apply: 'supervise' },
  },
  null,
  '/tmp',
);
const haproxyTopo = { ...topo, agent: { ...topo.agent, apply: 'haproxy' as const }, haproxyFrontends: { s1: '127.0.0.1:4010', s2: '127.0.0.1:4011' } };

const master = (addr: string, replicas: string[], offset = 100, keys = 10): InstanceObservation => ({
  addr,
  up: true,
  keys,
  replication: { role: 'master', offset, replicas: replicas.map((r) => ({ addr: r, state: 'online', offset, lag: 0 })) },
});
const replica = (addr: string, of: string, over: Partial<{ linkUp: boolean; offset: number }> = {}): InstanceObservation => ({
  addr,
  up: true,
  keys: 10,
  replication: { role: 'replica', masterAddr: of, linkUp: over.linkUp ?? true, syncing: false, lastIoSeconds: 0, offset: over.offset ?? 100 },
});
const down = (addr: string): InstanceObservation => ({ addr, up: false, error: 'connection refused' });
const sentinel = (addr: string, masters: Record<string, string | null>, epoch = 1): SentinelView => ({
  addr,
  up: true,
  shards: Object.fromEntries(Object.entries(masters).map(([k, m]) => [k, { master: m, configEpoch: epoch, flags: ['master'], replicas: 2, otherSentinels: 2 }])),
});

/** A healthy world; each test changes one thing. */
function world(): Observations {
  const inst = [
    master('127.0.0.1:1000', ['127.0.0.1:1001', '127.0.0.1:1002']),
    replica('127.0.0.1:1001', '127.0.0.1:1000'),
    replica('127.0.0.1:1002', '127.0.0.1:1000'),
    master('127.0.0.1:2000', ['127.0.0.1:2001', '127.0.0.1:2002'], 100, 30),
    replica('127.0.0.1:2001', '127.0.0.1:2000'),
    replica('127.0.0.1:2002', '127.0.0.1:2000'),
  ];
  const masters = { s1: '127.0.0.1:1000', s2: '127.0.0.1:2000' };
  return {
    at: new Date(0),
    instances: Object.fromEntries(inst.map((i) => [i.addr, i])),
    sentinels: topo.sentinel.instances.map((a) => sentinel(a, masters)),
    proxy: { up: true, reaches: { s1: { ok: true }, s2: { ok: true } } },
    proxyConfig: { state: 'read', file: '/x/nutcracker.yml', servers: { ...masters } },
    proxyLocal: true,
    agentPid: 4242,
    predictedShare: [0.5, 0.5],
  };
}

describe('status analysis', () => {
  it('a healthy world has no problems, and key shares against the prediction', () => {
    const r = analyze(topo, world());
    expect(r.problems).toEqual([]);
    expect(r.healthy).toBe(true);
    expect(r.shards.map((s) => [s.name, s.master, s.proxyTarget, s.keys, s.keyShare, s.predictedShare])).toEqual([
      ['s1', '127.0.0.1:1000', '127.0.0.1:1000', 10, 0.25, 0.5],
      ['s2', '127.0.0.1:2000', '127.0.0.1:2000', 30, 0.75, 0.5],
    ]);
    expect(r.shards[0]!.instances.map((i) => [i.addr, i.up, i.role, i.link, i.lagBytes])).toEqual([
      ['127.0.0.1:1000', true, 'master', null, null],
      ['127.0.0.1:1001', true, 'replica', 'up', 0],
      ['127.0.0.1:1002', true, 'replica', 'up', 0],
    ]);
  });

  it('a down replica: up false, role null, flagged', () => {
    const o = world();
    o.instances['127.0.0.1:1002'] = down('127.0.0.1:1002');
    const r = analyze(topo, o);
    expect(r.healthy).toBe(false);
    expect(r.problems).toEqual(['s1: 127.0.0.1:1002 is down (connection refused)']);
    const i = r.shards[0]!.instances[2]!;
    expect([i.up, i.role, i.flagged]).toEqual([false, null, true]);
  });

  it('the proxy pointing elsewhere than the sentinels is a disagreement', () => {
    const o = world();
    (o.proxyConfig as { servers: Record<string, string> }).servers.s2 = '127.0.0.1:2001';
    const r = analyze(topo, o);
    expect(r.problems).toEqual(['s2: the proxy sends this shard to 127.0.0.1:2001, but the sentinels\' master is 127.0.0.1:2000']);
    expect(r.shards[1]!.proxyTarget).toBe('127.0.0.1:2001');
  });

  it('one sentinel disagreeing is flagged; the majority still names the master', () => {
    const o = world();
    // A sentinel still on an older config-epoch: the majority at the highest epoch is elected.
    o.sentinels[2] = sentinel('127.0.0.1:3002', { s1: '127.0.0.1:1001', s2: '127.0.0.1:2000' }, 0);
    const r = analyze(topo, o);
    expect(r.shards[0]!.master).toBe('127.0.0.1:1000');
    expect(r.problems).toEqual(['s1: sentinels disagree: 1 say 127.0.0.1:1001, 2 say 127.0.0.1:1000']);
  });

  it('no sentinel answering: master null, every sentinel and the shards flagged', () => {
    const o = world();
    o.sentinels = o.sentinels.map((s) => ({ addr: s.addr, up: false, error: 'connection refused', shards: {} }));
    const r = analyze(topo, o);
    expect(r.shards.map((s) => s.master)).toEqual([null, null]);
    expect(r.problems).toContain('sentinel 127.0.0.1:3000 is down (connection refused)');
    expect(r.problems).toContain('s1: no sentinel reports a master');
  });

  it('a second master, a replica following the wrong master, a broken link and a lagging replica', () => {
    const o = world();
    o.instances['127.0.0.1:1001'] = master('127.0.0.1:1001', []);
    o.instances['127.0.0.1:1002'] = replica('127.0.0.1:1002', '127.0.0.1:1001', { linkUp: false });
    const lagging = master('127.0.0.1:2000', ['127.0.0.1:2001', '127.0.0.1:2002']);
    if (lagging.replication?.role === 'master') lagging.replication.replicas[0]!.lag = 30;
    o.instances['127.0.0.1:2000'] = lagging;
    const r = analyze(topo, o);
    expect(r.problems).toEqual([
      "s1: 127.0.0.1:1001 reports role master, but the sentinels' master is 127.0.0.1:1000",
      "s1: 127.0.0.1:1002 replicates from 127.0.0.1:1001, not from the sentinels' master 127.0.0.1:1000",
      's1: 127.0.0.1:1002: replication link to 127.0.0.1:1001 is down',
      's2: 127.0.0.1:2001 lags 30 s behind 127.0.0.1:2000 (more than redis.minReplicasMaxLag 2 s)',
    ]);
  });

  it('proxy down, config missing on the proxy host, and a failing GET through the proxy', () => {
    const o = world();
    o.proxyConfig = { state: 'absent', file: '/x/nutcracker.yml' };
    o.proxy = { up: true, reaches: { s1: { ok: false, error: 'connection refused' }, s2: { ok: true } } };
    let r = analyze(topo, o);
    expect(r.problems).toEqual(['proxy config /x/nutcracker.yml is missing on this host', 's1: a GET through the proxy to this shard fails: connection refused']);
    expect(r.shards[0]!.proxyTarget).toBeNull();
    o.proxyLocal = false;
    o.proxy = { up: false, error: 'connection refused', reaches: { s1: null, s2: null } };
    r = analyze(topo, o);
    expect(r.problems).toEqual(['proxy 127.0.0.1:4000 does not answer (connection refused)']);
    expect(r.proxy).toMatchObject({ listen: '127.0.0.1:4000', up: false });
  });

  it('no agent beside the proxy is a problem; a proxy on another host needs none here', () => {
    const o = world();
    o.agentPid = null;
    expect(analyze(topo, o).problems).toEqual(['the agent is not running on this host: failovers will not reach the proxy (redis-shard up starts it)']);
    o.proxyLocal = false;
    const r = analyze(topo, o);
    expect(r.problems).toEqual([]);
    expect(r.agent).toBeNull();
  });

  it('a failover in progress shows as sentinel flags', () => {
    const o = world();
    o.sentinels[0]!.shards.s1!.flags = ['master', 'o_down', 'failover_in_progress'];
    expect(analyze(topo, o).problems).toEqual(['s1: sentinels flag the master: o_down, failover_in_progress']);
  });
});

describe('sentinel verdict', () => {
  const v = (m: string | null, up = true, epoch = 0): SentinelView => ({
    addr: 'x',
    up,
    shards: up ? { s1: { master: m, configEpoch: m === null ? null : epoch, flags: [], replicas: null, otherSentinels: null } } : {},
  });
  it('elects the address a majority of the configured sentinels report', () => {
    expect(sentinelVerdict([v('a', true, 1), v('a', true, 1), v('b', true, 0)], 's1')).toMatchObject({ master: 'a', answering: 3, unanimous: false });
  });
  it('sentinels at the same config-epoch naming different masters elect nobody', () => {
    expect(sentinelVerdict([v('a'), v('a'), v('b')], 's1')).toMatchObject({ master: null, election: { reason: 'epoch-conflict' } });
  });
  it('is null when only a minority answers, however unanimous (status no longer names a master the agent would hold on)', () => {
    const r = sentinelVerdict([v('a'), v(null, false), v(null, false)], 's1');
    expect(r).toMatchObject({ master: null, answering: 1, unanimous: true, election: { ok: false, reason: 'no-majority' } });
  });
  it('follows the highest config-epoch', () => {
    expect(sentinelVerdict([v('a', true, 1), v('b', true, 2), v('b', true, 2)], 's1').master).toBe('b');
    expect(sentinelVerdict([v('a', true, 3), v('b', true, 2), v('b', true, 2)], 's1')).toMatchObject({ master: null, election: { reason: 'waiting-for-majority' } });
  });
  it('is null when none answers or they split evenly', () => {
    expect(sentinelVerdict([v(null, false), v(null)], 's1').master).toBeNull();
    expect(sentinelVerdict([v('a'), v('b')], 's1').master).toBeNull();
  });
});

describe('INFO replication', () => {
  it('parses a master with replicas', () => {
    const text = '# Replication\r\nrole:master\r\nconnected_slaves:2\r\nslave0:ip=127.0.0.1,port=36401,state=online,offset=407,lag=1\r\nslave1:ip=127.0.0.1,port=36402,state=wait_bgsave,offset=0,lag=0\r\nmaster_repl_offset:407\r\n';
    expect(parseReplicationInfo(text)).toEqual({
      role: 'master',
      offset: 407,
      replicas: [
        { addr: '127.0.0.1:36401', state: 'online', offset: 407, lag: 1 },
        { addr: '127.0.0.1:36402', state: 'wait_bgsave', offset: 0, lag: 0 },
      ],
    });
  });
  it('parses a replica', () => {
    const text = 'role:slave\nmaster_host:127.0.0.1\nmaster_port:36400\nmaster_link_status:down\nmaster_last_io_seconds_ago:-1\nmaster_sync_in_progress:0\nslave_repl_offset:12\n';
    expect(parseReplicationInfo(text)).toEqual({ role: 'replica', masterAddr: '127.0.0.1:36400', linkUp: false, syncing: false, lastIoSeconds: -1, offset: 12 });
  });
  it('returns null for text that is not INFO replication', () => {
    expect(parseReplicationInfo('-ERR unknown command')).toBeNull();
  });

  describe('apply mode haproxy: the proxy\'s target is HAProxy\'s backend', () => {
    const withHaproxy = (): Observations => {
      const o = world();
      o.proxyConfig = { state: 'read', file: '/x/nutcracker.yml', servers: { ...haproxyTopo.haproxyFrontends } };
      o.haproxy = {
        pid: 1,
        up: true,
        frontends: haproxyTopo.haproxyFrontends,
        backends: { s1: { addr: '127.0.0.1:1000', maint: false }, s2: { addr: '127.0.0.1:2000', maint: false } },
        file: { s1: '127.0.0.1:1000', s2: '127.0.0.1:2000' },
        nutcracker: { ...haproxyTopo.haproxyFrontends },
      };
      return o;
    };
    it('healthy: nutcracker on the frontends, HAProxy on the masters', () => {
      const r = analyze(haproxyTopo, withHaproxy());
      expect(r.problems).toEqual([]);
      expect(r.shards.map((x) => x.proxyTarget)).toEqual(['127.0.0.1:1000', '127.0.0.1:2000']);
      expect(r.proxy.haproxy).toEqual({ up: true, pid: 1, frontends: haproxyTopo.haproxyFrontends });
    });
    it('drift is flagged: backend off the master, file off the live state, nutcracker off its frontend, a fenced shard', () => {
      const o = withHaproxy();
      o.haproxy!.backends!.s1 = { addr: '127.0.0.1:1001', maint: false };
      o.haproxy!.nutcracker.s2 = '127.0.0.1:2000';
      o.haproxy!.backends!.s2 = { addr: '127.0.0.1:2000', maint: true };
      const r = analyze(haproxyTopo, o);
      expect(r.shards[0]!.proxyTarget).toBe('127.0.0.1:1001');
      expect(r.problems).toEqual([
        's1: HAProxy sends this shard to 127.0.0.1:1001 but its file says 127.0.0.1:1000 (a restarted HAProxy would go there)',
        "s1: the proxy (through HAProxy) sends this shard to 127.0.0.1:1001, but the sentinels' master is 127.0.0.1:1000",
        's2: nutcracker sends this shard to 127.0.0.1:2000, not to its HAProxy frontend 127.0.0.1:4011',
        's2: HAProxy has this shard fenced (maintenance): it sends it nothing',
      ]);
    });
    it('HAProxy not answering is a problem of its own', () => {
      const o = withHaproxy();
      o.haproxy = { ...o.haproxy!, up: false, backends: null, error: 'ECONNREFUSED' };
      const r = analyze(haproxyTopo, o);
      expect(r.problems[0]).toBe('haproxy does not answer on its admin socket (ECONNREFUSED)');
      // Without a live answer, the file says where a restarted HAProxy sends each shard.
      expect(r.shards.map((x) => x.proxyTarget)).toEqual(['127.0.0.1:1000', '127.0.0.1:2000']);
    });
  });
});

describe('a shard that cannot take writes is flagged', () => {
  it('both replicas down with minReplicasToWrite 1: the master refuses writes, and status says so', () => {
    const w = world();
    w.instances['127.0.0.1:1000'] = master('127.0.0.1:1000', []);
    w.instances['127.0.0.1:1001'] = down('127.0.0.1:1001');
    w.instances['127.0.0.1:1002'] = down('127.0.0.1:1002');
    const r = analyze(topo, w);
    expect(r.healthy).toBe(false);
    expect(r.problems).toContain('s1: master 127.0.0.1:1000 refuses writes (NOREPLICAS): 0 linked replicas, min-replicas-to-write is 1');
  });

  it('the live min-replicas-to-write counts, not only the description', () => {
    const w = world();
    w.instances['127.0.0.1:2000'] = { ...master('127.0.0.1:2000', ['127.0.0.1:2001', '127.0.0.1:2002'], 100, 30), minReplicasToWrite: 3 };
    const r = analyze(topo, w);
    expect(r.problems).toContain('s2: master 127.0.0.1:2000 refuses writes (NOREPLICAS): 2 linked replicas, min-replicas-to-write is 3');
  });

  it('one replica down of two with minReplicasToWrite 1 still takes writes', () => {
    const w = world();
    w.instances['127.0.0.1:1000'] = master('127.0.0.1:1000', ['127.0.0.1:1001']);
    w.instances['127.0.0.1:1002'] = down('127.0.0.1:1002');
    expect(analyze(topo, w).problems.join('\n')).not.toMatch(/refuses writes/);
  });
});

describe('status analysis with several proxies', () => {
  /** The healthy world with a second proxy; `second` changes what status sees of it. */
  function twoProxies(second: Partial<NonNullable<Observations['proxies']>[number]> = {}): Observations {
    const w = world();
    const first = { listen: '127.0.0.1:4000', proxy: w.proxy, proxyConfig: w.proxyConfig, proxyLocal: true, agentPid: 4242, haproxy: null };
    const other = {
      listen: '127.0.0.2:4000',
      proxy: { up: true, reaches: { s1: { ok: true }, s2: { ok: true } } },
      proxyConfig: { state: 'read' as const, file: '/x/proxies/2/nutcracker.yml', servers: { s1: '127.0.0.1:1000', s2: '127.0.0.1:2000' } },
      proxyLocal: true,
      agentPid: 4343,
      haproxy: null,
      ...second,
    };
    return { ...w, proxies: [first, other] };
  }

  it('every proxy is reported, with each shard\'s target through it; healthy when all agree', () => {
    const r = analyze(topo, twoProxies());
    expect(r.healthy).toBe(true);
    expect(r.proxies?.map((p) => [p.listen, p.up, p.agent?.running])).toEqual([['127.0.0.1:4000', true, true], ['127.0.0.2:4000', true, true]]);
    expect(r.shards[0]!.proxies).toEqual([
      { listen: '127.0.0.1:4000', target: '127.0.0.1:1000', reaches: true, agrees: true },
      { listen: '127.0.0.2:4000', target: '127.0.0.1:1000', reaches: true, agrees: true },
    ]);
  });

  it('one proxy on the old master makes status unhealthy, naming that proxy', () => {
    const r = analyze(topo, twoProxies({ proxyConfig: { state: 'read', file: '/x/p2.yml', servers: { s1: '127.0.0.1:1001', s2: '127.0.0.1:2000' } } }));
    expect(r.healthy).toBe(false);
    expect(r.problems).toEqual(['s1: through proxy 127.0.0.2:4000: the proxy sends this shard to 127.0.0.1:1001, but the sentinels\' master is 127.0.0.1:1000']);
    expect(r.shards[0]!.proxies?.[1]).toMatchObject({ target: '127.0.0.1:1001', agrees: false });
    expect(r.shards[0]!.instances.find((i) => i.addr === '127.0.0.1:1001')!.flagged).toBe(true);
  });

  it('a proxy that is down, or whose agent is not running, is a problem naming it', () => {
    const r = analyze(topo, twoProxies({ proxy: { up: false, error: 'connection refused', reaches: { s1: null, s2: null } }, agentPid: null }));
    expect(r.problems).toEqual([
      'proxy 127.0.0.2:4000 does not answer (connection refused)',
      'proxy 127.0.0.2:4000: the agent is not running on this host: failovers will not reach the proxy (redis-shard up starts it)',
    ]);
  });

  it('a proxy on another host: reachability only, no target, no agent', () => {
    const r = analyze(topo, twoProxies({ proxyConfig: { state: 'absent', file: '/x/p2.yml' }, proxyLocal: false, agentPid: null }));
    expect(r.healthy).toBe(true);
    expect(r.proxies?.[1]).toMatchObject({ local: false, config: null, agent: null });
    expect(r.shards[1]!.proxies?.[1]).toEqual({ listen: '127.0.0.2:4000', target: null, reaches: true, agrees: null });
  });
});
