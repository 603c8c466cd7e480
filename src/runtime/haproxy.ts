import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EnvironmentError } from '../errors.js';
import { readHaproxyServers, renderHaproxyCfg } from '../render/index.js';
import { haproxyPaths, mustParseAddress, type Topology } from '../topology/index.js';
import { atomicWriteFile } from './atomic-write.js';
import { requireBinary } from './binaries.js';
import { tail } from './nutcracker.js';
import { haproxyCommand } from './haproxy-admin.js';
import { isOurProcess, ourPid, readPidFile, spawnDetached, type Spawned } from './process.js';
import { stopPid } from './stop.js';
import { canBind, portAccepts, waitFor } from './wait.js';

const run = promisify(execFile);

/** A unix socket path longer than this does not fit in sockaddr_un; HAProxy would refuse to start. */
const MAX_SOCKET_PATH = 107;

/** The soft limit on open files this process (and so a child it starts) has: HAProxy's maxconn is sized from it. */
export function openFilesLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m && m[1] !== 'unlimited') return Number(m[1]);
  } catch {
    /* not Linux */
  }
  return 1024;
}

/** haproxy.cfg for these masters, with this host's admin socket and fd limit. */
export function haproxyConfig(topo: Topology, masters: Record<string, string>, fdLimit = openFilesLimit()): string {
  const p = haproxyPaths(topo.proxyDir);
  if (p.socket.length > MAX_SOCKET_PATH) {
    throw new EnvironmentError(`${p.socket}: too long for a unix socket (${p.socket.length} > ${MAX_SOCKET_PATH} bytes); use a shorter stateDir`);
  }
  return renderHaproxyCfg(topo, masters, { socket: p.socket, fdLimit });
}

/**
 * Writes haproxy.cfg for these masters (atomically, 0600: it names the admin socket). HAProxy's runtime
 * changes live in memory only, so whatever (re)starts it writes the current masters into its file first.
 */
export function writeHaproxyConfig(topo: Topology, masters: Record<string, string>): string {
  const p = haproxyPaths(topo.proxyDir);
  const text = haproxyConfig(topo, masters);
  atomicWriteFile(p.conf, text, { mode: 0o600 });
  return p.conf;
}

/** `haproxy -c` on a config file. */
export async function checkHaproxyConf(path: string): Promise<{ ok: true } | { ok: false; error: string }> {
  try {
    await run(requireBinary('haproxy'), ['-c', '-q', '-f', path], { timeout: 5000 });
    return { ok: true };
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    const text = `${err.stderr ?? ''}${err.stdout ?? ''}`.trim().split('\n').filter(Boolean).slice(-3).join('; ');
    return { ok: false, error: text || err.message };
  }
}

/**
 * Starts HAProxy on its file, in the foreground (-db: the PID we record is the serving process, and it
 * stays in the state dir's process group like the other engines), and waits for every frontend to accept.
 */
export async function spawnHaproxy(topo: Topology): Promise<Spawned> {
  const p = haproxyPaths(topo.proxyDir);
  return spawnDetached({
    bin: requireBinary('haproxy'),
    args: ['-db', '-f', p.conf],
    logFile: p.log,
    pidFile: p.pid,
    cwd: p.dir,
    stateDir: topo.stateDir,
  });
}

export async function waitHaproxyListening(topo: Topology, spawned: Spawned, timeoutMs = 10_000): Promise<void> {
  const p = haproxyPaths(topo.proxyDir);
  for (const addr of Object.values(topo.haproxyFrontends)) {
    const { host, port } = mustParseAddress(addr);
    await waitFor(() => portAccepts(host, port), {
      timeoutMs,
      intervalMs: 2,
      what: `haproxy to listen on ${addr}`,
      abortOn: spawned.exited.then(({ code, signal }) => `haproxy exited (${signal ?? `code ${code}`}); ${tail(p.log)}`),
    }).catch((e) => {
      throw new EnvironmentError((e as Error).message, { cause: e });
    });
  }
}

/**
 * (Re)starts HAProxy on its file (written first from `text` when given: the file was missing or unusable),
 * and waits for every frontend. Refuses when a frontend is held by another process.
 */
export async function startHaproxy(
  topo: Topology,
  text: string | null,
  /** The text passed `haproxy -c` already (a reshard checks it before its pause; the check takes ~250 ms). */
  opts: { checked?: boolean } = {},
): Promise<{ pid: number; startMs: number; servers: Record<string, string> }> {
  const t0 = performance.now();
  const p = haproxyPaths(topo.proxyDir);
  if (text !== null) atomicWriteFile(p.conf, text, { mode: 0o600 });
  for (const addr of Object.values(topo.haproxyFrontends)) {
    const { host, port } = mustParseAddress(addr);
    // The kernel may take a moment to free the address of a process just reaped.
    const free = await waitFor(() => canBind(host, port), { timeoutMs: 300, intervalMs: 5, what: `${addr} to be free` }).catch(() => false);
    if (!free) throw new EnvironmentError(`${addr} (haproxy frontend) is held by another process; stop it (ss -ltnp)`);
  }
  if (!opts.checked) {
    const check = await checkHaproxyConf(p.conf);
    if (!check.ok) throw new EnvironmentError(`${p.conf}: haproxy rejects it: ${check.error}`);
  }
  const s = await spawnHaproxy(topo);
  await waitHaproxyListening(topo, s, 5000);
  return { pid: s.pid, startMs: Math.round(performance.now() - t0), servers: readHaproxyServers(readFileSync(p.conf, 'utf8')) };
}

/**
 * Replaces the running HAProxy by one on `text` (a reshard's cut: HAProxy 2.6 cannot add or drop a frontend at
 * runtime). The caller holds the apply lock and has stopped nutcracker, so no client is cut mid-request.
 */
export async function restartHaproxy(
  topo: Topology,
  text: string,
  opts: { checked?: boolean } = {},
): Promise<{ pid: number; startMs: number; servers: Record<string, string> }> {
  const pid = ourPid(haproxyPaths(topo.proxyDir).pid, topo.stateDir);
  if (pid !== null) await stopPid(pid, { graceMs: 2000 });
  return startHaproxy(topo, text, opts);
}

/** PIDs of HAProxies a reshard started a successor beside and has not stopped yet (one a line). */
function previousPidsPath(topo: Topology): string {
  return join(haproxyPaths(topo.proxyDir).dir, 'haproxy.previous.pids');
}

/** The config the previous HAProxy runs, kept until it is stopped (a crash before the commit goes back to it). */
export function previousHaproxyCfgPath(topo: Topology): string {
  return join(haproxyPaths(topo.proxyDir).dir, 'haproxy.previous.cfg');
}

/** Whether a successor was started beside a HAProxy that may still run (a crash in a reshard's cut). */
export function previousHaproxyLeft(topo: Topology): boolean {
  return readPreviousPids(topo).length > 0;
}

function readPreviousPids(topo: Topology): number[] {
  try {
    return readFileSync(previousPidsPath(topo), 'utf8').split('\n').map(Number).filter((n) => Number.isInteger(n) && n > 0);
  } catch {
    return [];
  }
}

/**
 * Starts HAProxy on `text` beside the running one, for a reshard's cut: HAProxy binds with SO_REUSEPORT, so both
 * listen on the frontends they share (and send to the same masters) until the caller stops the previous one
 * (`stopPreviousHaproxy`) inside its pause. HAProxy's start (~300 ms on a loaded machine) is then no part of the
 * pause. The previous PID is recorded first, so a crash before it is stopped leaves it findable. Resolves once the
 * new process answers on the admin socket with its own PID: it binds every listener before it serves.
 */
export async function startHaproxyBeside(topo: Topology, text: string): Promise<{ pid: number }> {
  const p = haproxyPaths(topo.proxyDir);
  const previous = ourPid(p.pid, topo.stateDir);
  if (previous !== null) {
    if (readPreviousPids(topo).length === 0) atomicWriteFile(previousHaproxyCfgPath(topo), readFileSync(p.conf, 'utf8'), { mode: 0o600 });
    atomicWriteFile(previousPidsPath(topo), [...new Set([...readPreviousPids(topo), previous])].map((n) => `${n}\n`).join(''));
  }
  atomicWriteFile(p.conf, text, { mode: 0o600 });
  const s = await spawnHaproxy(topo);
  try {
    await waitFor(async () => (await haproxyCommand(p.socket, 'show info', 500).catch(() => '')).includes(`Pid: ${s.pid}\n`), {
      timeoutMs: 10_000,
      intervalMs: 5,
      what: `the new haproxy (pid ${s.pid}) to answer on ${p.socket}`,
      abortOn: s.exited.then(({ code, signal }) => `haproxy exited (${signal ?? `code ${code}`}); ${tail(p.log)}`),
    });
  } catch (e) {
    await stopPid(s.pid, { graceMs: 2000 }).catch(() => {});
    throw new EnvironmentError((e as Error).message, { cause: e });
  }
  return { pid: s.pid };
}

/** Stops the HAProxies `startHaproxyBeside` left running beside the one the pid file names (after a crash too). */
export async function stopPreviousHaproxy(topo: Topology): Promise<number[]> {
  const current = readPidFile(haproxyPaths(topo.proxyDir).pid);
  const stopped: number[] = [];
  for (const pid of readPreviousPids(topo)) {
    if (pid === current || !isOurProcess(pid, topo.stateDir)) continue;
    await stopPid(pid, { graceMs: 2000, pollMs: 1 });
    stopped.push(pid);
  }
  rmSync(previousPidsPath(topo), { force: true });
  rmSync(previousHaproxyCfgPath(topo), { force: true });
  return stopped;
}
