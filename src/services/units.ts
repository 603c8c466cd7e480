// Over 250 lines on purpose: the text of every unit this host needs, one builder per part; layout and hardening are unit-text.ts.
import { dirname } from 'node:path';
import { nutcrackerArgs, STATE_ENV, UNDER_SYSTEMD_ENV } from '../runtime/index.js';
import { addressSlug, agentPaths, haproxyPaths, proxyPaths, redisPaths, sentinelPaths, type Topology } from '../topology/index.js';
import type { LocalParts } from '../runtime/index.js';
import { commonHardening, hardening, identity, partOf, unique, unit } from './unit-text.js';

/** The first line of every file we write; uninstall and re-install touch only files that carry it. */
export const MARKER = '# Managed by redis-shard (services install).';

export interface UnitFile {
  /** File name in the destination, e.g. redis-shard-redis@.service. */
  name: string;
  text: string;
}

export interface UnitOptions {
  /** Unit name prefix; two deployments on one host need two prefixes. */
  prefix: string;
  /** The unprivileged user (and its group) every long-running part runs as. */
  user: string;
  group: string;
  /** Absolute paths of the programs the units run (systemd-analyze verify checks that they exist). */
  bins: { redis: string; sentinel: string; nutcracker: string; node: string; cli: string; haproxy?: string };
  /** With auth.passwordEnv, where systemd reads the variable from (root-only file the operator writes). */
  envFile: string | null;
  /**
   * "yes" hides /home, /root and /run/user; "read-only" when a path the units need lives there (then
   * ReadWritePaths still makes the state dir writable).
   */
  protectHome: 'yes' | 'read-only';
}

export interface UnitNames {
  target: string;
  redis: (addr: string) => string;
  sentinel: (addr: string) => string;
  redisTemplate: string;
  sentinelTemplate: string;
  proxy: string;
  /** Apply mode haproxy: the HAProxy between nutcracker and the masters. */
  haproxy: string;
  agent: string;
  installPath: string;
  installService: string;
}

export function unitNames(prefix: string): UnitNames {
  return {
    target: `${prefix}.target`,
    redisTemplate: `${prefix}-redis@.service`,
    sentinelTemplate: `${prefix}-sentinel@.service`,
    redis: (addr) => `${prefix}-redis@${addressSlug(addr)}.service`,
    sentinel: (addr) => `${prefix}-sentinel@${addressSlug(addr)}.service`,
    proxy: `${prefix}-proxy.service`,
    haproxy: `${prefix}-haproxy.service`,
    agent: `${prefix}-agent.service`,
    installPath: `${prefix}-proxy-install.path`,
    installService: `${prefix}-proxy-install.service`,
  };
}

/**
 * systemd units for this host's parts of the deployment: pure text from the topology. One template per kind
 * of engine instance (the instance name is the address slug, so `%i` finds its folder in the state dir), one
 * unit each for nutcracker and the agent, the path unit + oneshot that install the agent's staged proxy
 * config, and a target that wants exactly this host's instances.
 */
export function renderUnits(topo: Topology, parts: LocalParts, o: UnitOptions): UnitFile[] {
  const n = unitNames(o.prefix);
  const header = (what: string) =>
    [MARKER, `# ${what}`, `# Deployment: ${topo.file ?? '(default)'}${parts.host ? `, host ${parts.host}` : ''}. Re-run \`redis-shard services install\` instead of editing.`];
  const out: UnitFile[] = [];
  const wants: string[] = [];

  if (parts.redis.length > 0) {
    wants.push(...parts.redis.map(n.redis));
    const dir = redisPaths(topo.stateDir, '%i').dir;
    out.push({
      name: n.redisTemplate,
      text: unit(header('One Redis instance; the instance name is its address with ":" as "_" (its folder in the state dir).'), {
        Unit: [`Description=redis-shard Redis %i`, ...partOf(n)],
        Service: [
          // notify: systemd knows the instance is ready only once it has loaded its data.
          'Type=notify',
          `ExecStart=${o.bins.redis} ${dir}/redis.conf --supervised systemd --daemonize no`,
          `WorkingDirectory=${dir}`,
          ...identity(o, topo),
          // A restarted master comes back writable on its old data; 2 s lets Sentinel's view settle first, and
          // min-replicas-to-write keeps a master with no replicas from accepting writes it would lose.
          'Restart=always',
          'RestartSec=2s',
          // Loading a large AOF can take minutes; stopping flushes it.
          'TimeoutStartSec=300s',
          'TimeoutStopSec=60s',
          'LimitNOFILE=65535',
          ...hardening(o, [dir], { jit: false }),
        ],
      }),
    });
  }

  if (parts.sentinels.length > 0) {
    wants.push(...parts.sentinels.map(n.sentinel));
    const dir = sentinelPaths(topo.stateDir, '%i').dir;
    out.push({
      name: n.sentinelTemplate,
      text: unit(header('One Redis Sentinel; it rewrites sentinel.conf in its folder, which therefore stays writable.'), {
        Unit: ['Description=redis-shard Sentinel %i', ...partOf(n)],
        Service: [
          'Type=notify',
          `ExecStart=${o.bins.sentinel} ${dir}/sentinel.conf --supervised systemd --daemonize no`,
          `WorkingDirectory=${dir}`,
          ...identity(o, topo),
          'Restart=always',
          'RestartSec=1s',
          'TimeoutStopSec=30s',
          ...hardening(o, [dir], { jit: false }),
        ],
      }),
    });
  }

  if (parts.proxy && topo.agent.apply === 'haproxy') {
    out.push(...haproxyModeUnits(topo, o, n, header, wants));
  } else if (parts.proxy) {
    const p = proxyPaths(topo.proxyDir);
    const a = agentPaths(topo.proxyDir);
    const stagingDir = dirname(topo.stagingFile);
    wants.push(n.proxy, n.agent, n.installPath);
    out.push(proxyUnit(topo, o, n, header('nutcracker (twemproxy). Its config is installed by the proxy-install service, never by the agent.'), []));
    out.push(
      agentUnit(topo, o, n, header('The agent, unprivileged, in staging mode: it writes only the staging file; the path unit installs it.'), {
        keeps: 'the proxy',
        after: n.proxy,
        env: [],
        writable: unique([a.dir, stagingDir]),
      }),
    );
    out.push({
      name: n.installPath,
      text: unit(header('Watches the staging file the agent writes (the equivalent of the original iwatch).'), {
        Unit: ['Description=redis-shard: watch the staged proxy config', ...partOf(n)],
        Path: [`PathChanged=${topo.stagingFile}`, `Unit=${n.installService}`],
      }),
    });
    out.push({
      name: n.installService,
      text: unit(header('Root, but only what installing needs: checks the staged file (nutcracker -t, addresses from the description only), installs it atomically, restarts the proxy.'), {
        Unit: ['Description=redis-shard: install the staged proxy config and restart the proxy', `After=${n.proxy}`],
        Service: [
          'Type=oneshot',
          `ExecStart=${o.bins.node} ${o.bins.cli} -c ${topo.file} proxy install-staged --restart systemd --unit ${n.proxy} --group ${o.group}`,
          `Environment=${STATE_ENV}=${topo.stateDir}`,
          'UMask=0077',
          // chown the installed file, read the agent's 0600 staging file; systemctl needs no capability.
          'CapabilityBoundingSet=CAP_CHOWN CAP_FOWNER CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH',
          ...commonHardening(o, [p.dir], { jit: true }),
          'TimeoutStartSec=60s',
        ],
      }),
    });
  }

  out.push({
    name: n.target,
    text: unit(header("This host's part of the deployment: enable and start it with systemctl enable --now " + n.target + '.'), {
      Unit: [`Description=redis-shard deployment${parts.host ? ` (host ${parts.host})` : ''}`, ...wants.map((w) => `Wants=${w}`)],
      Install: ['WantedBy=multi-user.target'],
    }),
  });
  return out;
}

/**
 * Apply mode haproxy: nutcracker's file never changes (it points at HAProxy's frontends), so there is no staging
 * file, path unit or root installer. HAProxy runs as the service user, on a file in its own folder that the
 * agent (same user) rewrites before each switch; its admin socket (0600) is there too. systemd restarts
 * HAProxy and nutcracker; the agent re-applies the masters to a restarted HAProxy.
 */
function haproxyModeUnits(topo: Topology, o: UnitOptions, n: UnitNames, header: (what: string) => string[], wants: string[]): UnitFile[] {
  if (!o.bins.haproxy) throw new Error('apply mode haproxy: the haproxy binary path is needed for its unit');
  const h = haproxyPaths(topo.proxyDir);
  const a = agentPaths(topo.proxyDir);
  wants.push(n.haproxy, n.proxy, n.agent);
  return [
    {
      name: n.haproxy,
      text: unit(header('HAProxy between nutcracker and the masters: one loopback frontend per shard; the agent switches its backends.'), {
        Unit: ['Description=redis-shard HAProxy (one frontend per shard, backend = its master)', ...partOf(n)],
        Service: [
          'Type=simple',
          // -db: foreground, one process: systemd and the admin socket see the same one.
          `ExecStartPre=${o.bins.haproxy} -c -q -f ${h.conf}`,
          `ExecStart=${o.bins.haproxy} -db -f ${h.conf}`,
          `WorkingDirectory=${h.dir}`,
          ...identity(o, topo),
          'Restart=always',
          'RestartSec=1s',
          // haproxy.cfg's maxconn is sized from this limit (services install renders it so).
          `LimitNOFILE=${SERVICE_FD_LIMIT}`,
          // Not MemoryDenyWriteExecute: Debian's HAProxy is built with PCRE2's JIT.
          ...hardening(o, [h.dir], { jit: true }),
        ],
      }),
    },
    proxyUnit(topo, o, n, header("nutcracker (twemproxy), its server lines on HAProxy's frontends; its config never changes in this mode."), [`After=${n.haproxy}`]),
    agentUnit(topo, o, n, header("The agent, unprivileged, in haproxy mode: it switches HAProxy's backends over the admin socket and rewrites haproxy.cfg."), {
      keeps: 'HAProxy',
      after: n.haproxy,
      env: [`Environment=${UNDER_SYSTEMD_ENV}=1`],
      writable: [a.dir, h.dir],
    }),
  ];
}

/** LimitNOFILE of the HAProxy unit; services install sizes haproxy.cfg's maxconn from it. */
export const SERVICE_FD_LIMIT = 65535;

/**
 * nutcracker's unit. It reads its config through systemd's credentials: the live file stays root's (0600 when it
 * holds redis_auth), which the unprivileged user, and so the agent, can neither read nor replace.
 */
function proxyUnit(topo: Topology, o: UnitOptions, n: UnitNames, header: string[], after: string[]): UnitFile {
  const p = proxyPaths(topo.proxyDir);
  return {
    name: n.proxy,
    text: unit(header, {
      Unit: ['Description=redis-shard proxy (nutcracker)', ...partOf(n), ...after],
      Service: [
        'Type=simple',
        `LoadCredential=nutcracker.yml:${p.conf}`,
        `ExecStart=${o.bins.nutcracker} ${nutcrackerArgs(topo, '%d/nutcracker.yml').join(' ')} -p ${p.pid}`,
        `WorkingDirectory=${p.dir}`,
        ...identity(o, topo),
        'Restart=always',
        'RestartSec=1s',
        'LimitNOFILE=65535',
        ...hardening(o, [p.dir], { jit: false }),
      ],
    }),
  };
}

/** The agent's unit: unprivileged, writing only `writable`. */
function agentUnit(
  topo: Topology,
  o: UnitOptions,
  n: UnitNames,
  header: string[],
  a: { keeps: string; after: string; env: string[]; writable: string[] },
): UnitFile {
  return {
    name: n.agent,
    text: unit(header, {
      Unit: [`Description=redis-shard agent (keeps ${a.keeps} on the elected masters)`, ...partOf(n), `After=${a.after}`],
      Service: [
        'Type=simple',
        `ExecStart=${o.bins.node} ${o.bins.cli} -c ${topo.file} agent`,
        `WorkingDirectory=${agentPaths(topo.proxyDir).dir}`,
        ...identity(o, topo),
        ...a.env,
        ...(o.envFile ? [`EnvironmentFile=${o.envFile}`] : []),
        'Restart=always',
        'RestartSec=1s',
        ...hardening(o, a.writable, { jit: true }),
      ],
    }),
  };
}
