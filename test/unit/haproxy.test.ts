import { describe, expect, it } from 'vitest';
import {
  haproxyMaxconn, nutcrackerTargets, readHaproxyServers, renderHaproxyCfg, renderNutcrackerYml, readPoolServers, setHaproxyServers,
} from '../../src/render/index.js';
import { parseServersState } from '../../src/runtime/haproxy-admin.js';
import { DEFAULT_DESCRIPTION, fromObject, parseTopology } from '../../src/topology/index.js';
import { errorOf } from '../support/description-error.js';

const desc = (extra = '') => `
shards:
  - {name: a, master: "127.0.0.1:7000", instances: ["127.0.0.1:7000", "127.0.0.1:7001"]}
  - {name: b.2, master: "127.0.0.1:7100", instances: ["127.0.0.1:7100", "127.0.0.1:7101"]}
sentinel: {instances: ["127.0.0.1:26379"], quorum: 1}
proxy:
  listen: "127.0.0.1:22121"
${extra}
`;

describe('HAProxy frontends in the description', () => {
  it('are derived on 127.0.0.1 from proxy.listen\'s port + 10 when not given; the default deployment fixes 22131/22132', () => {
    const t = parseTopology(desc(), '/etc/rs/redis-shard.yml');
    expect(t.agent.apply).toBe('haproxy');
    expect(t.haproxyFrontends).toEqual({ a: '127.0.0.1:22131', 'b.2': '127.0.0.1:22132' });
    expect(fromObject(DEFAULT_DESCRIPTION, null, '/x').haproxyFrontends).toEqual({ s1: '127.0.0.1:22131', s2: '127.0.0.1:22132' });
  });
  it('take the given address per shard', () => {
    const t = parseTopology(desc('  haproxy: {frontends: {a: "127.0.0.1:30000"}}'), '/f');
    expect(t.haproxyFrontends).toEqual({ a: '127.0.0.1:30000', 'b.2': '127.0.0.1:22131' });
  });
  it('derived ones skip every port the description already uses', () => {
    const t = parseTopology(desc('  stats: "127.0.0.1:22131"'), '/f');
    expect(t.haproxyFrontends).toEqual({ a: '127.0.0.1:22132', 'b.2': '127.0.0.1:22133' });
    const u = parseTopology(desc('  haproxy: {frontends: {"b.2": "127.0.0.1:22131"}}'), '/f');
    expect(u.haproxyFrontends).toEqual({ a: '127.0.0.1:22132', 'b.2': '127.0.0.1:22131' });
  });
  it('refuse an unknown shard, a given address another part uses, and name the field', () => {
    expect(errorOf(desc('  haproxy: {frontends: {zz: "127.0.0.1:30000"}}'))).toMatch(/proxy\.haproxy\.frontends\.zz: no shard is named "zz"/);
    expect(errorOf(desc('  stats: "127.0.0.1:30000"\n  haproxy: {frontends: {a: "127.0.0.1:30000"}}'))).toMatch(/proxy\.haproxy\.frontends\.a: address 127\.0\.0\.1:30000 is already used by proxy\.stats/);
    expect(errorOf(desc('  haproxy: {frontends: {a: "127.0.0.1:7001"}}'))).toMatch(/proxy\.haproxy\.frontends\.a: address 127\.0\.0\.1:7001 is already used by shards\[0\]\.instances\[1\]/);
  });
  it('are not claimed in another apply mode', () => {
    expect(() => parseTopology(`${desc('  stats: "127.0.0.1:22131"')}agent: {apply: supervise}\n`, '/f')).not.toThrow();
  });
});

describe('haproxy.cfg', () => {
  const t = parseTopology(desc(), '/etc/rs/redis-shard.yml');
  const cfg = renderHaproxyCfg(t, { a: '127.0.0.1:7001' }, { socket: '/s/admin.sock', fdLimit: 20000 });
  it('has one loopback frontend and one check-free backend per shard, admin socket 0600, long idle timeouts', () => {
    expect(cfg).toContain('stats socket /s/admin.sock mode 600 level admin');
    expect(cfg).toMatch(/frontend fe_a\n    bind 127\.0\.0\.1:22131\n    default_backend be_a/);
    expect(cfg).toMatch(/backend be_a\n    server a 127\.0\.0\.1:7001\n/);
    expect(cfg).toMatch(/backend be_b\.2\n    server b\.2 127\.0\.0\.1:7100\n/);
    expect(cfg).not.toMatch(/\bcheck\b/);
    expect(cfg).toContain('mode tcp');
    expect(cfg).toContain('timeout client 86400000ms');
    expect(cfg).toContain('timeout server 86400000ms');
  });
  it('sizes maxconn from the fd limit (2 descriptors per connection, some spare)', () => {
    expect(cfg).toContain(`maxconn ${haproxyMaxconn(20000)}`);
    expect(2 * haproxyMaxconn(20000) + 28).toBeLessThanOrEqual(20000);
    expect(haproxyMaxconn(1024)).toBe(462);
  });
  it('reads and edits only server addresses', () => {
    expect(readHaproxyServers(cfg)).toEqual({ a: '127.0.0.1:7001', 'b.2': '127.0.0.1:7100' });
    const edited = setHaproxyServers(cfg, { 'b.2': '127.0.0.1:7101' });
    expect(readHaproxyServers(edited)).toEqual({ a: '127.0.0.1:7001', 'b.2': '127.0.0.1:7101' });
    expect(edited.split('\n').filter((l, i) => l !== cfg.split('\n')[i])).toEqual(['    server b.2 127.0.0.1:7101']);
    expect(() => setHaproxyServers(cfg, { zz: '127.0.0.1:1' })).toThrow(/no backend server for shard zz/);
  });
  it('nutcracker keeps the shard names and points at the frontends, so the ring is the same as without HAProxy', () => {
    const viaHaproxy = readPoolServers(renderNutcrackerYml(t, nutcrackerTargets(t, { a: '127.0.0.1:7000' }), null));
    expect(viaHaproxy.map((s) => [s.name, s.addr])).toEqual([['a', '127.0.0.1:22131'], ['b.2', '127.0.0.1:22132']]);
    const sup = parseTopology(`${desc()}agent: {apply: supervise}\n`, '/f');
    expect(readPoolServers(renderNutcrackerYml(sup, nutcrackerTargets(sup, { a: '127.0.0.1:7000', 'b.2': '127.0.0.1:7100' }), null)).map((s) => s.name)).toEqual(['a', 'b.2']);
  });
});

describe('show servers state', () => {
  it('is read by its header, with maintenance from the admin-state bit', () => {
    const text = `1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
3 be_s1 1 s1 127.0.0.1 2 0 1 1 9 1 0 2 0 0 0 0 - 29902 - 0 0 - - 0
5 be_s2 1 s2 ::1 2 1 1 1 9 1 0 2 0 0 0 0 - 29910 - 0 0 - - 0
`;
    const m = parseServersState(text);
    expect(m.get('be_s1')?.get('s1')).toEqual({ addr: '127.0.0.1:29902', maint: false });
    expect(m.get('be_s2')?.get('s2')).toEqual({ addr: '[::1]:29910', maint: true });
  });
});
