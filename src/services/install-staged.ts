import { sha256 } from '../sha256.js';
import { chmodSync, chownSync, closeSync, constants, fstatSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { isMap, isScalar, parseDocument } from 'yaml';
import { EnvironmentError, InvalidInputError } from '../errors.js';
import { readPoolServers, renderNutcrackerYml, setServerAddresses } from '../render/index.js';
import { atomicWriteFile, checkNutcrackerConf, ourPid, spawnNutcracker, stopPid, waitNutcrackerListening } from '../runtime/index.js';
import { proxyPaths, type Topology } from '../topology/index.js';
import { isRoot, lookupGroup, systemctl, systemdRunning } from './system.js';

export type RestartMode = 'auto' | 'systemd' | 'pidfile' | 'none';
export const RESTART_MODES: readonly RestartMode[] = ['auto', 'systemd', 'pidfile', 'none'];

export interface InstallStagedOptions {
  /**
   * How nutcracker is restarted on the new config: systemd (systemctl restart --unit), pidfile (the process in
   * the state dir's pid file is stopped and a new one started, as `up` does), none, or auto (systemd when it
   * is running, else pidfile).
   */
  restart?: RestartMode;
  unit?: string;
  /** Group of the installed file when it holds no secret (the services' group). */
  group?: string;
  /** Install and restart even when the staged file equals the installed one. */
  force?: boolean;
  log?: (line: string) => void;
}

export interface InstallStagedResult {
  changed: boolean;
  /** Server address by shard name, as installed. */
  servers: Record<string, string>;
  restarted: 'systemd' | 'pidfile' | 'not-running' | 'none' | null;
  pid: number | null;
}

/** A staging file bigger than this is not a nutcracker config the agent wrote. */
const MAX_STAGED_BYTES = 1 << 20;

/**
 * The privileged half of staging mode (the original's iwatch): takes the config the unprivileged agent staged,
 * refuses it unless it differs from the live one only in server addresses, each one an instance of that shard in
 * the description, and nutcracker -t accepts it; installs it atomically with the right owner and mode; restarts
 * nutcracker. On refusal the live config and the running nutcracker are left alone. If the staging file changes
 * while this runs (a second failover), the new one is installed too, so no update is lost between triggers.
 */
export async function installStaged(topo: Topology, opts: InstallStagedOptions = {}): Promise<InstallStagedResult> {
  const log = opts.log ?? (() => {});
  const mode = opts.restart === undefined || opts.restart === 'auto' ? (systemdRunning() ? 'systemd' : 'pidfile') : opts.restart;
  if (mode === 'systemd' && !systemdRunning()) {
    throw new EnvironmentError('--restart systemd: systemd is not running on this machine; use --restart pidfile (or none)');
  }
  const gid = opts.group !== undefined ? lookupGroup(opts.group) : null;
  if (opts.group !== undefined && gid === null) throw new InvalidInputError(`--group ${opts.group}: no such group`);

  let result: InstallStagedResult | null = null;
  let force = opts.force ?? false;
  for (let round = 0; round < 5; round++) {
    const staged = readStaged(topo.stagingFile);
    const target = proxyPaths(topo.proxyDir).conf;
    const installed = readOrNull(target);
    if (installed === staged && !force) {
      if (result === null) {
        log(`${topo.stagingFile} is what ${target} already holds; nothing to install`);
        result = { changed: false, servers: serversOf(topo, staged), restarted: null, pid: null };
      }
      return result;
    }
    force = false;
    const servers = validateStaged(topo, staged, installed);
    await checkExactBytes(target, staged);
    const previous = installed === null ? null : { text: installed, ...ownerOf(target) };
    install(target, staged, gid);
    log(`installed ${target} (sha256 ${sha256(staged).slice(0, 12)}; ${Object.entries(servers).map(([n, a]) => `${n} -> ${a}`).join(', ')})`);
    const r = await restart(topo, mode, opts.unit, previous, log);
    result = { changed: true, servers, ...r };
  }
  return result!;
}

/** Opened without following a symlink: the file is the agent's to write, and this runs as root. */
function readStaged(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new InvalidInputError(`${path}: nothing is staged (the agent writes this file in staging mode)`);
    if (code === 'ELOOP') throw new InvalidInputError(`${path}: is a symbolic link; refused, the running config is kept`);
    throw new EnvironmentError(`${path}: cannot read: ${code ?? (e as Error).message}`, { cause: e });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new InvalidInputError(`${path}: is not a regular file; refused, the running config is kept`);
    if (st.size > MAX_STAGED_BYTES) throw new InvalidInputError(`${path}: is ${st.size} bytes, too big for a nutcracker config; refused, the running config is kept`);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < st.size) {
      const n = readSync(fd, buf, off, st.size - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function serversOf(topo: Topology, text: string): Record<string, string> {
  try {
    return Object.fromEntries(readPoolServers(text, topo.proxy.name).map((s) => [s.name, s.addr]));
  } catch {
    return {};
  }
}

/**
 * The agent may move a shard to another of its instances (or fence it: agent.fence.address) and nothing else: not the listen address, not the
 * password, not a server outside the description. Whatever else it stages is refused.
 */
export function validateStaged(topo: Topology, staged: string, installed: string | null): Record<string, string> {
  const refuse = (why: string) => new InvalidInputError(`${topo.stagingFile}: ${why}; refused, the running config is kept`);
  let servers: ReturnType<typeof readPoolServers>;
  try {
    servers = readPoolServers(staged, topo.proxy.name);
  } catch (e) {
    throw refuse(`not a nutcracker config with pool "${topo.proxy.name}" (${(e as Error).message})`);
  }
  const byName: Record<string, string> = {};
  for (const s of servers) {
    const shard = topo.shards.find((sh) => sh.name === s.name);
    if (!shard || !s.named) throw refuse(`server "${s.name}" is not a shard of the description`);
    // A fenced shard (agent.fence) points at the fence address, which refuses: that too is the agent's to stage.
    const fenced = topo.agent.fence.enabled && s.addr === topo.agent.fence.address;
    if (!shard.instances.includes(s.addr) && !fenced) throw refuse(`shard ${s.name} points at ${s.addr}, which is not one of its instances (${shard.instances.join(', ')})`);
    if (byName[s.name] !== undefined) throw refuse(`shard ${s.name} is listed twice`);
    byName[s.name] = s.addr;
  }
  const missing = topo.shards.filter((s) => byName[s.name] === undefined).map((s) => s.name);
  if (missing.length > 0) throw refuse(`shard ${missing.join(', ')} missing from servers`);

  let expected: string | null = null;
  if (installed !== null) {
    try {
      expected = setServerAddresses(installed, topo.proxy.name, byName);
    } catch {
      expected = null;
    }
  }
  if (expected === null) {
    // No usable live config to compare with: compare with the description's own rendering, password included
    // as staged (its value cannot be checked without the password, which this command does not need).
    expected = renderNutcrackerYml(topo, byName, redisAuthOf(staged));
  }
  if (expected !== staged) throw refuse('it changes more than server addresses (compared with the live config)');
  return byName;
}

function redisAuthOf(text: string): string | null {
  const doc = parseDocument(text);
  const root = doc.contents;
  if (!isMap(root)) return null;
  for (const item of root.items) {
    if (isMap(item.value)) {
      const v = item.value.get('redis_auth', true);
      if (isScalar(v)) return String(v.value);
    }
  }
  return null;
}

/** nutcracker -t on exactly the bytes about to be installed (a private temp copy beside the target). */
async function checkExactBytes(target: string, text: string): Promise<void> {
  const tmp = join(dirname(target), `.${basename(target)}.check-${process.pid}.yml`);
  writeFileSync(tmp, text, { mode: 0o600, flag: 'w' });
  try {
    const r = await checkNutcrackerConf(tmp);
    if (!r.ok) throw new InvalidInputError(`${target}: nutcracker -t rejects the staged config: ${r.error}; refused, the running config is kept`);
  } finally {
    rmSync(tmp, { force: true });
  }
}

function ownerOf(path: string): { uid: number; gid: number; mode: number } {
  const st = statSync(path);
  return { uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 };
}

/**
 * 0600 (owner root when run as root) when the config holds redis_auth; else 0640 with the services' group.
 * Under systemd nutcracker reads it through LoadCredential, so it never needs to read this file itself.
 */
function install(target: string, text: string, gid: number | null): void {
  const secret = redisAuthOf(text) !== null;
  const mode = secret ? 0o600 : 0o640;
  const old = readOrNull(target) !== null ? ownerOf(target) : null;
  atomicWriteFile(target, text, { mode });
  if (isRoot()) chownSync(target, 0, secret ? 0 : (gid ?? old?.gid ?? 0));
  chmodSync(target, mode);
}

async function restart(
  topo: Topology,
  mode: Exclude<RestartMode, 'auto'>,
  unit: string | undefined,
  previous: { text: string; uid: number; gid: number; mode: number } | null,
  log: (line: string) => void,
): Promise<Pick<InstallStagedResult, 'restarted' | 'pid'>> {
  if (mode === 'none') return { restarted: 'none', pid: null };
  if (mode === 'systemd') {
    const u = unit ?? 'redis-shard-proxy.service';
    await systemctl(['restart', u]);
    log(`restarted ${u}`);
    return { restarted: 'systemd', pid: null };
  }
  const p = proxyPaths(topo.proxyDir);
  const old = ourPid(p.pid, topo.stateDir);
  if (old === null) {
    log(`nutcracker is not running (no live pid in ${p.pid}); it will use the new config when started`);
    return { restarted: 'not-running', pid: null };
  }
  await stopPid(old, { graceMs: 2000 });
  let started: number | null = null;
  try {
    const s = await spawnNutcracker(topo);
    started = s.pid;
    await waitNutcrackerListening(topo, s, 5000);
    log(`restarted nutcracker (pid ${old} -> ${s.pid})`);
    return { restarted: 'pidfile', pid: s.pid };
  } catch (e) {
    if (started !== null) await stopPid(started, { graceMs: 1000 });
    if (previous === null) throw e;
    // Passed nutcracker -t yet did not serve (e.g. its address is taken): the old config goes back and runs.
    atomicWriteFile(p.conf, previous.text, { mode: previous.mode });
    if (isRoot()) chownSync(p.conf, previous.uid, previous.gid);
    const s = await spawnNutcracker(topo);
    await waitNutcrackerListening(topo, s, 5000);
    throw new EnvironmentError(`nutcracker did not start on the new config (${(e as Error).message}); the previous config was put back and nutcracker restarted on it (pid ${s.pid})`, { cause: e });
  }
}
