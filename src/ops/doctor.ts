/**
 * `redis-shard doctor`: can this host run its part of the deployment? Binaries and their versions, the ports of
 * this host's parts (free, or held by our own processes), the state dir, the password. Every failure says how
 * to fix it. Doctor only looks: it starts, writes and binds nothing that outlives the check.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { errorMessage } from '../errors.js';
import { BINARIES, findBinary, localParts, ourPid, type BinaryName } from '../runtime/index.js';
import {
  haproxyPaths, mustParseAddress, proxyPaths, readPassword, redisPaths, sentinelPaths, type Topology,
} from '../topology/index.js';
import { ephemeralPortRange, portHolder, reservedPorts, tryBind } from './ports.js';

export type CheckState = 'ok' | 'warn' | 'fail';

export interface DoctorCheck {
  /** What was checked: "binary redis-server", "port 127.0.0.1:6666 (redis)", "state dir". */
  what: string;
  state: CheckState;
  detail: string;
  /** How to fix it; present on every warn and fail. */
  fix?: string;
}

export interface DoctorReport {
  ok: boolean;
  /** The description the checks are for (null: the built-in default). */
  description: string | null;
  checks: DoctorCheck[];
}

export interface DoctorOptions {
  /** Act as this host of the description. */
  host?: string;
}

export async function runDoctor(topo: Topology, opts: DoctorOptions = {}): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [];
  const binaries = await Promise.all((Object.keys(BINARIES) as BinaryName[]).map(checkBinary));
  // HAProxy is needed only by apply mode haproxy (the default); in the other modes its absence is a note.
  for (const c of binaries) {
    if (c.what === 'binary haproxy' && c.state === 'fail' && topo.agent.apply !== 'haproxy') c.state = 'warn';
    if (c.what === 'binary haproxy' && !/^\S+, version 2\./.test(c.detail) && c.state === 'ok') {
      c.state = 'warn';
      c.fix = 'redis-shard is written for HAProxy 2.x (Debian 12 ships 2.6: runtime API "set server ... addr"); other versions are untested';
    }
  }
  checks.push(...binaries);
  checks.push(checkPassword(topo));
  checks.push(checkStateDir(topo.stateDir));
  checks.push(...(await checkPorts(topo, opts.host)));
  if (topo.agent.apply === 'exec' && topo.agent.exec) checks.push(checkExecutable(topo.agent.exec[0]!, 'agent.exec[0]'));
  return { ok: checks.every((c) => c.state !== 'fail'), description: topo.file, checks };
}

async function checkBinary(name: BinaryName): Promise<DoctorCheck> {
  const what = `binary ${name}`;
  const path = findBinary(name);
  const install = `install it: sudo apt-get install -y ${BINARIES[name]} (or run: npm start, which runs scripts/setup.sh)`;
  if (path === null) return { what, state: 'fail', detail: 'not found on PATH, /usr/sbin or /usr/local/(s)bin', fix: install };
  const version = await versionOf(path);
  if (version === null) return { what, state: 'fail', detail: `${path} does not run (--version failed)`, fix: `reinstall it: sudo apt-get install --reinstall -y ${BINARIES[name]}` };
  const check: DoctorCheck = { what, state: 'ok', detail: `${path}, version ${shortVersion(version)}` };
  // Sentinel's REPLICAS and Redis' replicaof (used in the rendered configs) need Redis 5 or later.
  const redisMajor = /v=([0-9]+)\.|^redis-\w+ ([0-9]+)\./.exec(version);
  const major = redisMajor ? Number(redisMajor[1] ?? redisMajor[2]) : null;
  if (name !== 'nutcracker' && major !== null && major < 5) {
    return { ...check, state: 'fail', fix: `Redis ${major} is too old (redis-shard needs 5 or later, tested with 7.0); ${install}` };
  }
  if (name === 'nutcracker' && !/0\.5\./.test(version)) {
    return { ...check, state: 'warn', fix: 'redis-shard is written for nutcracker 0.5.0 (its config keys and signals); other versions are untested' };
  }
  return check;
}

/** "Redis server v=7.0.15 sha=..." -> "7.0.15"; "This is nutcracker-0.5.0" -> "0.5.0". */
export function shortVersion(line: string): string {
  return /v=([0-9][0-9.]*)/.exec(line)?.[1] ?? /([0-9]+\.[0-9]+(?:\.[0-9]+)?)/.exec(line)?.[1] ?? line;
}

function versionOf(path: string): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(path, ['--version'], { timeout: 5000 }, (err, stdout, stderr) => {
      const line = `${stdout}${stderr}`.split('\n').find((l) => l.trim() !== '');
      resolve(err && !line ? null : (line?.trim() ?? null));
    });
  });
}

function checkPassword(topo: Topology): DoctorCheck {
  const what = 'password';
  if (!topo.auth) return { what, state: 'ok', detail: 'no auth in the description: the stack runs without a password' };
  try {
    readPassword(topo);
    const source = topo.auth.passwordEnv ? `environment variable ${topo.auth.passwordEnv}` : `file ${topo.passwordFile}`;
    return { what, state: 'ok', detail: `readable from ${source}` };
  } catch (e) {
    return {
      what,
      state: 'fail',
      detail: errorMessage(e),
      fix: topo.auth.passwordEnv
        ? `export ${topo.auth.passwordEnv}=<password> in the environment redis-shard runs in`
        : `create ${topo.passwordFile} holding the password (one line, printable ASCII), readable by this user`,
    };
  }
}

/** Writable now, or creatable: the nearest folder that exists must be a writable folder. */
function checkStateDir(dir: string): DoctorCheck {
  const what = `state dir ${dir}`;
  const fix = `set stateDir in the description to a folder you own, or fix the permissions of ${dir}`;
  let at = dir;
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  try {
    if (!statSync(at).isDirectory()) {
      return { what, state: 'fail', detail: `${at} is a file, not a folder, so ${dir} cannot be created`, fix };
    }
    accessSync(at, constants.W_OK | constants.X_OK);
  } catch (e) {
    return { what, state: 'fail', detail: `${at} is not writable (${(e as NodeJS.ErrnoException).code ?? errorMessage(e)})`, fix };
  }
  return { what, state: 'ok', detail: at === dir ? 'exists and is writable' : `does not exist yet; ${at} is writable, so up can create it` };
}

function checkExecutable(path: string, field: string): DoctorCheck {
  const what = `${field} ${path}`;
  try {
    accessSync(path, constants.X_OK);
    return { what, state: 'ok', detail: 'executable' };
  } catch (e) {
    return {
      what,
      state: 'fail',
      detail: `not executable (${(e as NodeJS.ErrnoException).code ?? errorMessage(e)})`,
      fix: `give ${field} the absolute path of an executable program (chmod +x it), or use agent.apply: supervise`,
    };
  }
}

interface PortToCheck {
  addr: string;
  role: string;
  pidFile: string;
}

async function checkPorts(topo: Topology, host: string | undefined): Promise<DoctorCheck[]> {
  const parts = localParts(topo, host);
  const ports: PortToCheck[] = [
    ...parts.redis.map((addr) => ({ addr, role: 'redis', pidFile: redisPaths(topo.stateDir, addr).pid })),
    ...parts.sentinels.map((addr) => ({ addr, role: 'sentinel', pidFile: sentinelPaths(topo.stateDir, addr).pid })),
    ...parts.proxies.flatMap((p) => [
      { addr: p.listen, role: 'proxy', pidFile: proxyPaths(p.dir).pid },
      { addr: p.stats, role: 'proxy stats', pidFile: proxyPaths(p.dir).pid },
    ]),
    ...(topo.agent.apply === 'haproxy'
      ? parts.proxies.flatMap((p) => Object.entries(p.frontends).map(([shard, addr]) => ({ addr, role: `haproxy frontend ${shard}`, pidFile: haproxyPaths(p.dir).pid })))
      : []),
  ];
  if (ports.length === 0) {
    return [{ what: 'ports', state: 'warn', detail: 'no part of the description runs on this host', fix: 'run doctor on the hosts the description names, or pass --host HOST' }];
  }
  const ephemeral = ephemeralPortRange();
  const reserved = reservedPorts();
  return Promise.all(
    ports.map(async (p): Promise<DoctorCheck> => {
      const { host: h, port } = mustParseAddress(p.addr);
      const what = `port ${p.addr} (${p.role})`;
      const pid = ourPid(p.pidFile, topo.stateDir);
      const bound = await tryBind(h, port);
      if (!bound.free) {
        if (pid !== null) return { what, state: 'ok', detail: `held by our own ${p.role === 'proxy stats' ? 'proxy' : p.role.startsWith('haproxy') ? 'haproxy' : p.role} (pid ${pid})` };
        if (bound.code === 'EADDRNOTAVAIL') {
          return { what, state: 'fail', detail: `this machine has no address ${h}`, fix: `run doctor on ${h}, or pass --host with one of this machine's addresses` };
        }
        if (bound.code === 'EACCES') {
          return { what, state: 'fail', detail: `not allowed to listen on port ${port} (EACCES)`, fix: 'use a port above 1023, or run as a user allowed to bind it' };
        }
        const holder = await portHolder(port);
        return {
          what,
          state: 'fail',
          detail: `held by another process: ${holder ?? 'unknown (ss -ltnp names no process; run it as root to see others\' processes)'}`,
          fix: `stop what holds ${p.addr}, or give this ${p.role} another port in the description`,
        };
      }
      const inEphemeral = ephemeral !== null && port >= ephemeral[0] && port <= ephemeral[1] && !reserved.some(([a, b]) => port >= a && port <= b);
      if (inEphemeral) {
        return {
          what,
          state: 'warn',
          detail: `free, but inside the ephemeral range ${ephemeral[0]}-${ephemeral[1]}: an outgoing connection may take it before the ${p.role} starts`,
          fix: `reserve it: sysctl -w net.ipv4.ip_local_reserved_ports=${port} (add to the existing list), or use a port below ${ephemeral[0]}`,
        };
      }
      if (pid !== null) {
        return {
          what,
          state: 'warn',
          detail: `free, yet our ${p.role} (pid ${pid}) is running: it does not listen where the description says`,
          fix: 'see redis-shard status; restart that part with redis-shard down and up',
        };
      }
      return { what, state: 'ok', detail: 'free' };
    }),
  );
}
