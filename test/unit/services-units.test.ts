import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localParts } from '../../src/runtime/index.js';
import { planServices, renderUnits, type UnitFile, type UnitOptions } from '../../src/services/index.js';
import { fromObject, type DescriptionInput, type Topology } from '../../src/topology/index.js';
import { testDescription } from '../support/stack.js';

// Pure rendering: no process is started and no port is used.
const FILE = '/etc/redis-shard/redis-shard.yml';
const STATE = '/var/lib/redis-shard';
const BINS: UnitOptions['bins'] = {
  redis: '/usr/bin/redis-server',
  sentinel: '/usr/bin/redis-sentinel',
  nutcracker: '/usr/sbin/nutcracker',
  node: '/usr/bin/node',
  cli: '/opt/redis-shard/dist/cli/main.js',
};
const OPTS: UnitOptions = { prefix: 'redis-shard', user: 'redis-shard', group: 'redis-shard', bins: BINS, envFile: null, protectHome: 'yes' };

function topo(overrides: Partial<DescriptionInput> = {}): Topology {
  return fromObject({ ...testDescription(17000, { stateDir: STATE, agent: { apply: 'staging' }, ...overrides }) }, FILE, '/etc/redis-shard');
}

/** Two hosts: 127.0.0.1 has s1's master, the proxy and two sentinels; 127.0.0.2 the rest. */
function twoHosts(): Topology {
  const a = (p: number) => `127.0.0.1:${17000 + p}`;
  const b = (p: number) => `127.0.0.2:${17000 + p}`;
  return topo({
    shards: [
      { name: 's1', master: a(0), instances: [a(0), a(1), b(2)] },
      { name: 's2', master: b(10), instances: [b(10), b(11), a(12)] },
    ],
    sentinel: { instances: [a(20), a(21), b(22)] },
    proxy: { listen: a(30), stats: a(31) },
  });
}

/** `key=value` lines of one section of a unit file. */
function section(u: UnitFile, name: string): string[] {
  const out: string[] = [];
  let current = '';
  for (const line of u.text.split('\n')) {
    const head = /^\[(\w+)\]$/.exec(line);
    if (head) current = head[1]!;
    else if (current === name && line && !line.startsWith('#')) out.push(line);
  }
  return out;
}
const values = (u: UnitFile, sec: string, key: string) =>
  section(u, sec).filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
const byName = (units: UnitFile[], name: string) => {
  const u = units.find((x) => x.name === name);
  if (!u) throw new Error(`no unit ${name} in ${units.map((x) => x.name).join(', ')}`);
  return u;
};

describe('services: unit rendering', () => {
  const t = topo();
  const units = renderUnits(t, localParts(t), OPTS);

  it('renders one template per engine kind, the proxy, the agent, the path unit + installer and a target', () => {
    expect(units.map((u) => u.name).sort()).toEqual([
      'redis-shard-agent.service',
      'redis-shard-proxy-install.path',
      'redis-shard-proxy-install.service',
      'redis-shard-proxy.service',
      'redis-shard-redis@.service',
      'redis-shard-sentinel@.service',
      'redis-shard.target',
    ]);
  });

  it('the target wants exactly this host\'s instances, by address slug', () => {
    const wants = values(byName(units, 'redis-shard.target'), 'Unit', 'Wants');
    expect(wants).toEqual([
      ...[0, 1, 2, 10, 11, 12].map((p) => `redis-shard-redis@127.0.0.1_${17000 + p}.service`),
      ...[20, 21, 22].map((p) => `redis-shard-sentinel@127.0.0.1_${17000 + p}.service`),
      'redis-shard-proxy.service',
      'redis-shard-agent.service',
      'redis-shard-proxy-install.path',
    ]);
    expect(values(byName(units, 'redis-shard.target'), 'Install', 'WantedBy')).toEqual(['multi-user.target']);
  });

  it('every long-running service runs as the unprivileged user, hardened, writing only its own folder', () => {
    const writable: Record<string, string[]> = {
      'redis-shard-redis@.service': [`${STATE}/redis/%i`],
      'redis-shard-sentinel@.service': [`${STATE}/sentinel/%i`],
      'redis-shard-proxy.service': [`${STATE}/proxy`],
      'redis-shard-agent.service': [`${STATE}/agent`, `${STATE}/proxy`],
    };
    for (const [name, paths] of Object.entries(writable)) {
      const u = byName(units, name);
      const has = (k: string) => values(u, 'Service', k);
      expect(has('User'), name).toEqual(['redis-shard']);
      expect(has('Group'), name).toEqual(['redis-shard']);
      expect(has('NoNewPrivileges'), name).toEqual(['yes']);
      expect(has('ProtectSystem'), name).toEqual(['strict']);
      expect(has('PrivateTmp'), name).toEqual(['yes']);
      expect(has('ProtectHome'), name).toEqual(['yes']);
      expect(has('CapabilityBoundingSet'), name).toEqual(['']);
      expect(has('UMask'), name).toEqual(['0077']);
      expect(has('Restart'), name).toEqual(['always']);
      expect(has('ReadWritePaths'), name).toEqual(paths);
      expect(values(u, 'Unit', 'PartOf'), name).toEqual(['redis-shard.target']);
      expect(has('Environment'), name).toContain(`REDIS_SHARD_STATE=${STATE}`);
    }
  });

  it('the engines run in the foreground on the configs `up` renders, under systemd notify', () => {
    const redis = byName(units, 'redis-shard-redis@.service');
    expect(values(redis, 'Service', 'Type')).toEqual(['notify']);
    expect(values(redis, 'Service', 'ExecStart')).toEqual([`/usr/bin/redis-server ${STATE}/redis/%i/redis.conf --supervised systemd --daemonize no`]);
    const sentinel = byName(units, 'redis-shard-sentinel@.service');
    expect(values(sentinel, 'Service', 'ExecStart')).toEqual([`/usr/bin/redis-sentinel ${STATE}/sentinel/%i/sentinel.conf --supervised systemd --daemonize no`]);
  });

  it('nutcracker reads its root-owned config through LoadCredential, stats bound where the description says', () => {
    const proxy = byName(units, 'redis-shard-proxy.service');
    expect(values(proxy, 'Service', 'LoadCredential')).toEqual([`nutcracker.yml:${STATE}/proxy/nutcracker.yml`]);
    expect(values(proxy, 'Service', 'ExecStart')).toEqual([
      `/usr/sbin/nutcracker -c %d/nutcracker.yml -o ${STATE}/proxy/nutcracker.log -s 17031 -a 127.0.0.1 -i 1000 -p ${STATE}/proxy/nutcracker.pid`,
    ]);
  });

  it('the agent runs the CLI with the description; the path unit watches its staging file', () => {
    const agent = byName(units, 'redis-shard-agent.service');
    expect(values(agent, 'Service', 'ExecStart')).toEqual([`/usr/bin/node ${BINS.cli} -c ${FILE} agent`]);
    expect(values(agent, 'Service', 'MemoryDenyWriteExecute')).toEqual([]); // V8 needs it
    const path = byName(units, 'redis-shard-proxy-install.path');
    expect(values(path, 'Path', 'PathChanged')).toEqual([`${STATE}/proxy/nutcracker.staged.yml`]);
    expect(values(path, 'Path', 'Unit')).toEqual(['redis-shard-proxy-install.service']);
  });

  it('the installer is a root oneshot with only the capabilities installing needs, writing only the proxy folder', () => {
    const inst = byName(units, 'redis-shard-proxy-install.service');
    expect(values(inst, 'Service', 'Type')).toEqual(['oneshot']);
    expect(values(inst, 'Service', 'User')).toEqual([]);
    expect(values(inst, 'Service', 'ExecStart')).toEqual([
      `/usr/bin/node ${BINS.cli} -c ${FILE} proxy install-staged --restart systemd --unit redis-shard-proxy.service --group redis-shard`,
    ]);
    expect(values(inst, 'Service', 'CapabilityBoundingSet')).toEqual(['CAP_CHOWN CAP_FOWNER CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH']);
    expect(values(inst, 'Service', 'ReadWritePaths')).toEqual([`${STATE}/proxy`]);
    expect(values(inst, 'Service', 'ProtectSystem')).toEqual(['strict']);
    expect(values(inst, 'Service', 'NoNewPrivileges')).toEqual(['yes']);
  });

  it('--prefix renames every unit and every reference', () => {
    const u2 = renderUnits(t, localParts(t), { ...OPTS, prefix: 'cache' });
    expect(u2.map((u) => u.name)).toContain('cache.target');
    for (const u of u2) expect(u.text, u.name).not.toMatch(/redis-shard(\.target|-redis@|-proxy)/);
  });

  it('with passwordEnv the agent reads the variable from the env file, not from the unit', () => {
    const te = topo({ auth: { passwordEnv: 'RS_PASSWORD' } });
    const u2 = renderUnits(te, localParts(te), { ...OPTS, envFile: '/etc/redis-shard/redis-shard.env' });
    expect(values(byName(u2, 'redis-shard-agent.service'), 'Service', 'EnvironmentFile')).toEqual(['/etc/redis-shard/redis-shard.env']);
  });
});

describe('services: several hosts', () => {
  const t = twoHosts();

  it('--host 127.0.0.2 gets only its instances and no proxy, agent or installer', () => {
    const units = renderUnits(t, localParts(t, '127.0.0.2'), OPTS);
    expect(units.map((u) => u.name).sort()).toEqual(['redis-shard-redis@.service', 'redis-shard-sentinel@.service', 'redis-shard.target']);
    expect(values(byName(units, 'redis-shard.target'), 'Unit', 'Wants')).toEqual([
      'redis-shard-redis@127.0.0.2_17002.service',
      'redis-shard-redis@127.0.0.2_17010.service',
      'redis-shard-redis@127.0.0.2_17011.service',
      'redis-shard-sentinel@127.0.0.2_17022.service',
    ]);
  });

  it('--host 127.0.0.1 gets its instances plus the proxy side', () => {
    const wants = values(byName(renderUnits(t, localParts(t, '127.0.0.1'), OPTS), 'redis-shard.target'), 'Unit', 'Wants');
    expect(wants).toEqual([
      'redis-shard-redis@127.0.0.1_17000.service',
      'redis-shard-redis@127.0.0.1_17001.service',
      'redis-shard-redis@127.0.0.1_17012.service',
      'redis-shard-sentinel@127.0.0.1_17020.service',
      'redis-shard-sentinel@127.0.0.1_17021.service',
      'redis-shard-proxy.service',
      'redis-shard-agent.service',
      'redis-shard-proxy-install.path',
    ]);
  });
});

describe('services: planning refuses bad input before writing anything', () => {
  const bins = { bins: BINS };
  it('a host that matches nothing names the hosts there are', () => {
    expect(() => planServices(twoHosts(), { ...bins, host: '10.9.9.9' }, 'dry-run')).toThrow(/--host 10\.9\.9\.9: matches nothing .* \(its hosts: 127\.0\.0\.1, 127\.0\.0\.2\)/);
  });
  it('an agent not in staging mode', () => {
    expect(() => planServices(topo({ agent: { apply: 'supervise' } }), bins, 'dry-run')).toThrow(/agent\.apply is "supervise".*\(agent\.apply: haproxy\).*\(agent\.apply: staging\)/);
  });
  it('the default deployment (no file for the units to name)', () => {
    expect(() => planServices(fromObject(testDescription(17000, { agent: { apply: 'staging' } }), null, '/var/lib/x'), bins, 'dry-run')).toThrow(/needs a description file/);
  });
  it('a state dir under /tmp, which PrivateTmp would hide', () => {
    expect(() => planServices(topo({ stateDir: '/tmp/rs' }), bins, 'dry-run')).toThrow(/stateDir \/tmp\/rs: is under a temporary folder/);
  });
  it('a path systemd would split or expand', () => {
    expect(() => planServices(topo({ stateDir: '/var/lib/my state' }), bins, 'dry-run')).toThrow(/holds a space/);
  });
  it('a missing password file, naming it and not the password', () => {
    expect(() => planServices(topo({ auth: { passwordFile: 'nope.pw' } }), bins, 'dry-run')).toThrow(/auth\.passwordFile: cannot read \/etc\/redis-shard\/nope\.pw: ENOENT/);
  });
  it('a user that does not exist, at install (a dry run only notes it)', () => {
    expect(() => planServices(topo(), { ...bins, user: 'no-such-user-rs' }, 'install')).toThrow(/--user no-such-user-rs: no such user; create it with: useradd/);
    const plan = planServices(topo(), { ...bins, user: 'no-such-user-rs' }, 'dry-run');
    expect(plan.notes.join('\n')).toMatch(/does not exist yet/);
  });
  it('root as the service user', () => {
    expect(() => planServices(topo(), { ...bins, user: 'root' }, 'install')).toThrow(/is root/);
  });

  it('no unit carries the password', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rs-units-'));
    try {
      writeFileSync(join(dir, 'pw'), 'Unit-Secret-42\n', { mode: 0o600 });
      const t = fromObject(testDescription(17000, { stateDir: STATE, agent: { apply: 'staging' }, auth: { passwordFile: 'pw' } }), join(dir, 'x.yml'), dir);
      // dir is under /tmp, so only the rendering is checked here, not the plan.
      for (const u of renderUnits(t, localParts(t), OPTS)) expect(u.text).not.toContain('Unit-Secret-42');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('services in apply mode haproxy', () => {
  const t = topo({ agent: { apply: 'haproxy' } });
  const units = renderUnits(t, localParts(t), { ...OPTS, bins: { ...BINS, haproxy: '/usr/sbin/haproxy' } });

  it('HAProxy, nutcracker and the agent; no staging path unit or root installer (nutcracker.yml never changes)', () => {
    expect(units.map((u) => u.name).sort()).toEqual([
      'redis-shard-agent.service',
      'redis-shard-haproxy.service',
      'redis-shard-proxy.service',
      'redis-shard-redis@.service',
      'redis-shard-sentinel@.service',
      'redis-shard.target',
    ]);
    expect(values(byName(units, 'redis-shard.target'), 'Unit', 'Wants')).toEqual(expect.arrayContaining(['redis-shard-haproxy.service', 'redis-shard-proxy.service', 'redis-shard-agent.service']));
  });

  it('HAProxy runs unprivileged, hardened, in the foreground on its file (checked first), writing only its folder', () => {
    const h = byName(units, 'redis-shard-haproxy.service');
    expect(values(h, 'Service', 'ExecStartPre')).toEqual([`/usr/sbin/haproxy -c -q -f ${STATE}/haproxy/haproxy.cfg`]);
    expect(values(h, 'Service', 'ExecStart')).toEqual([`/usr/sbin/haproxy -db -f ${STATE}/haproxy/haproxy.cfg`]);
    expect(values(h, 'Service', 'User')).toEqual(['redis-shard']);
    expect(values(h, 'Service', 'CapabilityBoundingSet')).toEqual(['']);
    expect(values(h, 'Service', 'NoNewPrivileges')).toEqual(['yes']);
    expect(values(h, 'Service', 'ProtectSystem')).toEqual(['strict']);
    expect(values(h, 'Service', 'ReadWritePaths')).toEqual([`${STATE}/haproxy`]);
    expect(values(h, 'Service', 'LimitNOFILE')).toEqual(['65535']);
    expect(values(h, 'Service', 'Restart')).toEqual(['always']);
  });

  it('the agent may write the HAProxy folder (file and admin socket) and is told systemd restarts the processes', () => {
    const a = byName(units, 'redis-shard-agent.service');
    expect(values(a, 'Service', 'ReadWritePaths')).toEqual([`${STATE}/agent`, `${STATE}/haproxy`]);
    expect(values(a, 'Service', 'Environment')).toContain('REDIS_SHARD_UNDER_SYSTEMD=1');
    expect(values(a, 'Unit', 'After')).toContain('redis-shard-haproxy.service');
  });
});

