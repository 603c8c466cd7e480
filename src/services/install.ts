// Over 250 lines on purpose: the preconditions (all reported at once), install and uninstall, each all or nothing with its undo; unit files on disk are unit-files.ts, ownership is ownership.ts.
import { builtEntry } from '../runtime/index.js';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { EnvironmentError, InvalidInputError, isKnownError } from '../errors.js';
import {
  acquireStackLock, allHosts, atomicWriteFile, checkHaproxyConf, checkNutcrackerConf, haproxyConfig, describeHolder, type StackLock, currentMasters, localParts, partsOf, renderMissingConfigs, requireBinary, writeStateMarker,
  type LocalParts,
} from '../runtime/index.js';
import { allProxies, haproxyPaths, proxyPaths, readPassword, type Topology } from '../topology/index.js';
import { isRoot, lookupAccount, systemctl, systemdRunning, type Account } from './system.js';
import { currentOwnership, applyOwnership, ownershipPlan, type OwnershipChange } from './ownership.js';
import { isOurs, writeUnitsAtomically } from './unit-files.js';
import { renderUnits, SERVICE_FD_LIMIT, unitNames, type UnitFile, type UnitOptions } from './units.js';

export { ownershipPlan, type OwnershipChange } from './ownership.js';

export const DEFAULT_DEST = '/etc/systemd/system';
export const DEFAULT_USER = 'redis-shard';
export const DEFAULT_PREFIX = 'redis-shard';

export interface ServicesOptions {
  /** Act as this host of the description (default: this machine's addresses). */
  host?: string;
  /** Where the unit files go. */
  dest?: string;
  /** The unprivileged user the services run as. */
  user?: string;
  prefix?: string;
  /** With auth.passwordEnv: the root-only file systemd reads the variable from. */
  envFile?: string;
  /** Programs the units run; found on this machine by default. */
  bins?: Partial<UnitOptions['bins']>;
  log?: (line: string) => void;
}

export interface ServicesPlan {
  dest: string;
  parts: LocalParts;
  units: UnitFile[];
  account: Account | null;
  user: string;
  group: string;
  hasPassword: boolean;
  /** What the operator should know or do: printed by every mode. */
  notes: string[];
}

/**
 * Everything `services install` would do, checked, without writing anything: bad input (no description file,
 * a host that matches nothing, an unreadable password, a user that does not exist) fails here, before any file
 * is touched.
 */
export function planServices(topo: Topology, opts: ServicesOptions, mode: 'install' | 'dry-run'): ServicesPlan {
  const notes: string[] = [];
  // Every precondition is checked before any is reported: an operator fixes them all in one go instead of
  // meeting them one run at a time. Each message says what to do.
  const problems: Array<{ message: string; environment: boolean }> = [];
  const check = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof InvalidInputError) && !(e instanceof EnvironmentError)) throw e;
      problems.push({ message: e.message, environment: e instanceof EnvironmentError });
      return undefined;
    }
  };
  const refuse = (message: string) => problems.push({ message, environment: false });
  const file = topo.file ?? '(no description file)';
  if (topo.file === null) {
    refuse('services install needs a description file (-c FILE): the units run `redis-shard -c FILE ...`; write one ready for services with `redis-shard init --services FILE`');
  }
  const parts = check(() => localParts(topo, opts.host)) ?? { redis: [], sentinels: [], proxies: [], proxy: false, host: opts.host ?? null };
  if (problems.length === 0 && parts.redis.length === 0 && parts.sentinels.length === 0 && !parts.proxy) {
    refuse(`nothing in ${file} belongs to this machine (its hosts: ${allHosts(topo).join(', ')}); pass --host to say which host this is`);
  }
  if (allProxies(topo).length > 1) {
    refuse(`${file}: proxies lists ${allProxies(topo).length} proxies; services install does not write units for several proxies yet; run each host's part with "redis-shard up --host H", or give services a description with one proxy (proxy.listen)`);
  }
  if (parts.proxy && topo.agent.apply !== 'staging' && topo.agent.apply !== 'haproxy') {
    refuse(`${file}: agent.apply is "${topo.agent.apply}", but under systemd the agent runs unprivileged: it can switch HAProxy's backends (agent.apply: haproxy) or stage the proxy config (agent.apply: staging), not restart nutcracker; set one of those ("redis-shard init --services FILE" writes a description that is ready)`);
  }
  // Read now so a missing or unreadable password file is reported before anything is written.
  const password = check(() => readPassword(topo)) ?? null;
  let envFile: string | null = null;
  if (topo.auth?.passwordEnv) {
    envFile = opts.envFile ?? `/etc/redis-shard/${opts.prefix ?? DEFAULT_PREFIX}.env`;
    notes.push(
      `the agent reads the password from ${topo.auth.passwordEnv}: put "${topo.auth.passwordEnv}=..." in ${envFile}, owned by root, mode 0600 (systemd reads it before dropping privileges)`,
    );
  }
  const bins: UnitOptions['bins'] = {
    redis: opts.bins?.redis ?? check(() => requireBinary('redis-server')) ?? 'redis-server',
    sentinel: opts.bins?.sentinel ?? check(() => requireBinary('redis-sentinel')) ?? 'redis-sentinel',
    nutcracker: opts.bins?.nutcracker ?? check(() => requireBinary('nutcracker')) ?? 'nutcracker',
    node: opts.bins?.node ?? process.execPath,
    cli: opts.bins?.cli ?? builtEntry('cli/main.js'),
    ...(parts.proxy && topo.agent.apply === 'haproxy' ? { haproxy: opts.bins?.haproxy ?? requireBinary('haproxy') } : {}),
  };
  const paths: Array<[string, string]> = [
    ['stateDir', topo.stateDir],
    ['agent.stagingFile', topo.stagingFile],
    ['node', bins.node],
    ['redis-shard', bins.cli],
  ];
  if (topo.file !== null) paths.splice(1, 0, ['the description', topo.file]);
  if (topo.passwordFile) paths.push(['auth.passwordFile', topo.passwordFile]);
  if (envFile) paths.push(['--env-file', envFile]);
  for (const [what, p] of paths) check(() => checkUnitPath(what, p));
  if (topo.stagingFile === proxyPaths(topo.proxyDir).conf) {
    refuse(`${file}: agent.stagingFile is the live proxy config; the agent must stage somewhere else`);
  }
  const underHome = paths.some(([, p]) => /^\/(home|root|run\/user)(\/|$)/.test(p));

  const user = opts.user ?? DEFAULT_USER;
  const account = lookupAccount(user);
  if (account === null) {
    const fix = `create it with: useradd --system --user-group --no-create-home --shell /usr/sbin/nologin ${user} (or pass --user)`;
    if (mode === 'install') refuse(`--user ${user}: no such user; ${fix}`);
    else notes.push(`user ${user} does not exist yet; ${fix}`);
  } else if (account.uid === 0) {
    refuse(`--user ${user}: is root; the services must run as an unprivileged user`);
  }
  if (account && isRoot()) {
    const blocked = closedAncestor(topo.stateDir, account);
    if (blocked !== null) {
      refuse(`stateDir ${topo.stateDir}: ${user} cannot pass through ${blocked}; give it o+x (chmod o+x ${blocked}) or choose another stateDir`);
    }
  }
  const dest = opts.dest ?? DEFAULT_DEST;
  if (mode === 'install') check(() => checkDest(dest));
  if (problems.length === 1) {
    const only = problems[0]!;
    const message = /nothing was installed/.test(only.message) || mode !== 'install' ? only.message : `${only.message}; nothing was installed`;
    throw only.environment ? new EnvironmentError(message) : new InvalidInputError(message);
  }
  if (problems.length > 1) {
    const list = problems.map((p, i) => `  ${i + 1}. ${p.message.replace(/; nothing was installed$/, '')}`).join('\n');
    const message = `services ${mode === 'install' ? 'install' : '--dry-run'}: ${problems.length} things to fix first${mode === 'install' ? ' (nothing was installed)' : ''}:\n${list}`;
    // Exit 2 when any of them is the operator's input; 3 only when all are about this machine.
    throw problems.every((p) => p.environment) ? new EnvironmentError(message) : new InvalidInputError(message);
  }
  if (parts.proxy && account && isRoot()) {
    // The agent reads both as the service user; say so now rather than have it fail at its first start.
    if (topo.file !== null && !readableBy(topo.file, account)) notes.push(`the agent runs as ${user} and must read ${topo.file}: make it readable by ${user}`);
    if (topo.passwordFile && !readableBy(topo.passwordFile, account)) {
      notes.push(`the agent runs as ${user} and must read ${topo.passwordFile}: e.g. chown root:${account.group} and chmod 0640 it`);
    }
  }
  const group = account?.group ?? user;
  const units = renderUnits(topo, parts, {
    prefix: opts.prefix ?? DEFAULT_PREFIX,
    user,
    group,
    bins,
    envFile,
    protectHome: underHome ? 'read-only' : 'yes',
  });
  return { dest, parts, units, account, user, group, hasPassword: password !== null, notes };
}

/** Paths go into unit files unquoted; systemd splits on spaces and expands % and $. */
function checkUnitPath(what: string, p: string): void {
  if (/[\s"'\\%$;]/.test(p)) {
    throw new InvalidInputError(`${what} ${JSON.stringify(p)}: holds a space, quote, backslash, %, $ or ;, which unit files cannot carry as written; use a plainer path`);
  }
  if (/^\/(tmp|var\/tmp|dev\/shm)(\/|$)/.test(p)) {
    throw new InvalidInputError(`${what} ${p}: is under a temporary folder, which the services' PrivateTmp hides from them; use e.g. /var/lib/redis-shard`);
  }
}

function permits(path: string, a: Account, bit: 4 | 1): boolean {
  try {
    const st = statSync(path);
    if (st.uid === a.uid) return (st.mode & (bit << 6)) !== 0;
    if (st.gid === a.gid) return (st.mode & (bit << 3)) !== 0;
    return (st.mode & bit) !== 0;
  } catch {
    return false;
  }
}

/** Readable by the account, folders on the way included. */
function readableBy(path: string, a: Account): boolean {
  return closedAncestor(path, a) === null && permits(path, a, 4);
}

/** The first existing folder above `path` the account may not pass through, or null. */
function closedAncestor(path: string, a: Account): string | null {
  const dirs: string[] = [];
  for (let d = dirname(path); ; d = dirname(d)) {
    dirs.unshift(d);
    if (d === dirname(d)) break;
  }
  for (const d of dirs) if (existsSync(d) && !permits(d, a, 1)) return d;
  return null;
}

/** What `--dry-run` prints: every file with its full text, then what would change in the state dir. */
export function describePlan(topo: Topology, plan: ServicesPlan): string {
  const out: string[] = [];
  for (const u of plan.units) out.push(`==> ${join(plan.dest, u.name)} (mode 0644) <==`, u.text);
  out.push(
    `state dir ${topo.stateDir}: configs missing there would be rendered as \`up\` renders them${plan.hasPassword ? ' (mode 0600)' : ''}, then owned by ${plan.user}:${plan.group}, except the proxy folder (root:${plan.group}, sticky, 1770) and its live nutcracker.yml (root, ${plan.hasPassword ? '0600' : `0640 root:${plan.group}`})`,
  );
  for (const n of plan.notes) out.push(`note: ${n}`);
  out.push(nextSteps(plan, false));
  return out.join('\n') + '\n';
}

function nextSteps(plan: ServicesPlan, reloaded: boolean): string {
  const target = plan.units.find((u) => u.name.endsWith('.target'))!.name;
  return reloaded
    ? `next: systemctl enable --now ${target}`
    : `next: systemctl daemon-reload && systemctl enable --now ${target}   (systemd is not running here, so nothing was reloaded)`;
}

export interface InstallResult {
  written: string[];
  rendered: string[];
  notes: string[];
  reloaded: boolean;
}

/**
 * Writes the units and prepares the state dir so the services find exactly what `up` would have made. All or
 * nothing: configs rendered, owners changed and units written by this call are undone if any later step fails.
 */
export async function installServices(topo: Topology, opts: ServicesOptions = {}): Promise<InstallResult> {
  const log = opts.log ?? (() => {});
  const plan = planServices(topo, opts, 'install');
  const names = plan.units.map((u) => join(plan.dest, u.name));
  for (const f of names) {
    if (existsSync(f) && !isOurs(f)) {
      throw new InvalidInputError(`${f}: exists and was not written by redis-shard; remove it or choose another --prefix; nothing was installed`);
    }
  }

  const undo: Array<() => void> = [];
  const rendered: string[] = [];
  let lock: StackLock | null = null;
  try {
    // The state dir, as `up` makes it.
    const createdStateDir = !existsSync(topo.stateDir);
    mkdirSync(topo.stateDir, { recursive: true });
    if (createdStateDir) undo.push(() => rmSync(topo.stateDir, { recursive: true, force: true }));
    const marker = writeStateMarker(topo.stateDir);
    if (marker !== null) undo.push(() => rmSync(marker, { force: true }));
    // One command at a time changes a stack: not beside an up, a down or a reshard of the same state dir.
    lock = await acquireStackLock(topo.stateDir, 'services install', { waitMs: 10_000, onWait: (h) => log(`waiting: ${describeHolder(h)} holds the lock on ${topo.stateDir}`) });
    const password = readPassword(topo);
    const { masters } = await currentMasters(topo, password);
    const parts = partsOf(topo, plan.parts, false);
    rendered.push(...renderMissingConfigs(topo, parts, masters, password));
    undo.push(() => rendered.forEach((p) => rmSync(p, { force: true })));
    for (const p of rendered) log(`rendered ${p}`);

    if (plan.parts.proxy && topo.agent.apply === 'haproxy') {
      const conf = proxyPaths(topo.proxyDir).conf;
      const check = await checkNutcrackerConf(conf);
      if (!check.ok) throw new InvalidInputError(`${conf}: nutcracker rejects it: ${check.error}`);
      // HAProxy's file is the current masters, rendered every time as `up` does, maxconn sized for its unit.
      const h = haproxyPaths(topo.proxyDir);
      const previous = existsSync(h.conf) ? readFileSync(h.conf, 'utf8') : null;
      atomicWriteFile(h.conf, haproxyConfig(topo, masters, SERVICE_FD_LIMIT), { mode: 0o600 });
      undo.push(() => (previous === null ? rmSync(h.conf, { force: true }) : atomicWriteFile(h.conf, previous, { mode: 0o600 })));
      const hcheck = await checkHaproxyConf(h.conf);
      if (!hcheck.ok) throw new InvalidInputError(`${h.conf}: haproxy rejects it: ${hcheck.error}`);
      log(`rendered ${h.conf}`);
    } else if (plan.parts.proxy) {
      const conf = proxyPaths(topo.proxyDir).conf;
      const check = await checkNutcrackerConf(conf);
      if (!check.ok) throw new InvalidInputError(`${conf}: nutcracker rejects it: ${check.error}`);
      // The agent reads its staging file as its base; seeded with the live config, it never needs to read the
      // live one (which is root's), and the first install-staged run finds nothing to change.
      if (!existsSync(topo.stagingFile)) {
        atomicWriteFile(topo.stagingFile, readFileSync(conf, 'utf8'), { mode: password !== null ? 0o600 : 0o640 });
        rendered.push(topo.stagingFile);
        log(`seeded ${topo.stagingFile} from ${conf}`);
      }
    }

    if (plan.account !== null && isRoot()) {
      const changes = ownershipPlan(topo, plan.parts, plan.account, password !== null);
      const before = changes.map((c) => currentOwnership(c.path)).filter((c): c is OwnershipChange => c !== null);
      undo.push(() => before.forEach(applyOwnership));
      changes.forEach(applyOwnership);
      log(`state dir ${topo.stateDir}: owned by ${plan.user}:${plan.group}; live proxy config root's`);
    } else if (plan.account !== null) {
      plan.notes.push(`not running as root: owners in ${topo.stateDir} were left as they are; the services run as ${plan.user} and need to own their folders`);
    }

    const written = writeUnitsAtomically(plan.dest, plan.units, undo);
    for (const w of written) log(`wrote ${w}`);
    let reloaded = false;
    if (systemdRunning()) {
      await systemctl(['daemon-reload']);
      reloaded = true;
    }
    log(nextSteps(plan, reloaded));
    for (const n of plan.notes) log(`note: ${n}`);
    return { written, rendered, notes: plan.notes, reloaded };
  } catch (e) {
    for (const u of undo.reverse()) {
      try {
        u();
      } catch {
        /* undo what can be undone */
      }
    }
    if (isKnownError(e)) throw e;
    const err = e as NodeJS.ErrnoException;
    throw new EnvironmentError(`services install failed (${err.code ?? err.message}${err.path ? ` at ${err.path}` : ''}); everything it had written was undone, nothing was installed`, { cause: e });
  } finally {
    lock?.release();
  }
}

function checkDest(dest: string): void {
  try {
    if (!statSync(dest).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    accessSync(dest, constants.W_OK);
  } catch (e) {
    throw new EnvironmentError(
      `--dest ${dest}: not a writable folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); run as root for ${DEFAULT_DEST}, or give --dest; nothing was installed`,
      { cause: e },
    );
  }
}


export interface UninstallResult {
  removed: string[];
  skipped: string[];
  stopped: boolean;
}

/**
 * Removes the unit files this prefix owns from the destination (only files carrying our marker). With systemd
 * running, the deployment is stopped and disabled first. The state dir (data, configs, logs) is kept.
 */
export async function uninstallServices(
  opts: Pick<ServicesOptions, 'dest' | 'prefix' | 'log'> & { dryRun?: boolean; stateDir?: string } = {},
): Promise<UninstallResult> {
  const log = opts.log ?? (() => {});
  // Stopping the units changes the stack: not beside an up, a down or a reshard of the same state dir.
  const lock =
    !opts.dryRun && opts.stateDir !== undefined && existsSync(opts.stateDir)
      ? await acquireStackLock(opts.stateDir, 'services uninstall', { waitMs: 10_000, onWait: (h) => log(`waiting: ${describeHolder(h)} holds the lock on ${opts.stateDir}`) })
      : null;
  try {
    return await uninstallLocked(opts, log);
  } finally {
    lock?.release();
  }
}

async function uninstallLocked(
  opts: Pick<ServicesOptions, 'dest' | 'prefix'> & { dryRun?: boolean },
  log: (line: string) => void,
): Promise<UninstallResult> {
  const dest = opts.dest ?? DEFAULT_DEST;
  const n = unitNames(opts.prefix ?? DEFAULT_PREFIX);
  const candidates = [n.target, n.redisTemplate, n.sentinelTemplate, n.proxy, n.haproxy, n.agent, n.installPath, n.installService].map((f) => join(dest, f));
  const present = candidates.filter((f) => existsSync(f));
  const skipped = present.filter((f) => !isOurs(f));
  const ours = present.filter((f) => isOurs(f));
  for (const s of skipped) log(`left alone (not written by redis-shard): ${s}`);
  if (opts.dryRun) {
    for (const f of ours) log(`would remove ${f}`);
    if (ours.length === 0) log(`nothing of prefix ${opts.prefix ?? DEFAULT_PREFIX} installed in ${dest}`);
    return { removed: [], skipped, stopped: false };
  }
  if (ours.length > 0) checkDest(dest);
  let stopped = false;
  if (ours.length > 0 && systemdRunning()) {
    await systemctl(['disable', '--now', n.target, n.installPath]);
    stopped = true;
  }
  for (const f of ours) {
    unlinkSync(f);
    log(`removed ${f}`);
  }
  if (ours.length === 0) log(`nothing of prefix ${opts.prefix ?? DEFAULT_PREFIX} installed in ${dest}`);
  else if (stopped) await systemctl(['daemon-reload']);
  else log('systemd is not running here, so nothing was stopped or reloaded');
  return { removed: ours, skipped, stopped };
}
