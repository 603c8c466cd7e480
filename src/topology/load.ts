import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { ZodError } from 'zod';
import { InvalidInputError } from '../errors.js';
import { DEFAULT_DESCRIPTION, DEFAULT_FILE_NAME, LEGACY_DEFAULT_HASH, NEW_DEPLOYMENT_HASH } from './defaults.js';
import { descriptionSchema, HASHES, type Description, type HashName } from './schema.js';

/** A validated description plus where it came from and its paths made absolute. */
export interface Topology extends Description {
  /** Absolute path of the description file, or null for the built-in default. */
  file: string | null;
  /** Absolute state directory. */
  stateDir: string;
  /** Absolute path of agent.stagingFile in staging mode (defaults into the state dir). */
  stagingFile: string;
  /** Absolute path of auth.passwordFile when given. */
  passwordFile: string | null;
  /** HAProxy's frontend per shard name (apply mode "haproxy"): proxy.haproxy.frontends, the rest derived. */
  haproxyFrontends: Record<string, string>;
}

export interface LoadOptions {
  /** Explicit --config FILE. */
  config?: string;
  /** Folder to look for redis-shard.yml in, and base for the default state dir. */
  cwd?: string;
}

/**
 * Loads the description: --config FILE, else ./redis-shard.yml, else the default deployment.
 * Every error names the file and the field path, and nothing is started by a caller that gets one.
 */
export function loadTopology(opts: LoadOptions = {}): Topology {
  const cwd = opts.cwd ?? process.cwd();
  let file: string | null = null;
  if (opts.config !== undefined) {
    file = resolve(cwd, opts.config);
    if (!existsSync(file)) throw new InvalidInputError(`${opts.config}: no such file (given with --config)`);
  } else if (existsSync(resolve(cwd, DEFAULT_FILE_NAME))) {
    file = resolve(cwd, DEFAULT_FILE_NAME);
  }
  if (file === null) {
    const hash = defaultDeploymentHash(cwd);
    return fromObject({ ...DEFAULT_DESCRIPTION, proxy: { ...DEFAULT_DESCRIPTION.proxy, hash: hash.hash } }, null, cwd);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InvalidInputError(`${file}: cannot read: ${(e as Error).message}`, { cause: e });
  }
  return parseTopology(text, file);
}

/**
 * The hash of the built-in default deployment in `baseDir` (and the one `init` writes there). A new deployment
 * gets NEW_DEPLOYMENT_HASH. One that already exists keeps what it runs with: the hash of its live
 * nutcracker.yml, else (data but no proxy config) LEGACY_DEFAULT_HASH, the only hash it could have had.
 */
export function defaultDeploymentHash(baseDir: string): { hash: HashName; source: 'new' | 'live proxy config' | 'existing state' } {
  const stateDir = resolve(baseDir, DEFAULT_DESCRIPTION.stateDir ?? '.redis-shard');
  const conf = join(stateDir, 'proxy', 'nutcracker.yml');
  if (existsSync(conf)) {
    const live = liveHash(conf, DEFAULT_DESCRIPTION.proxy.name ?? 'redis-shard');
    return { hash: live ?? LEGACY_DEFAULT_HASH, source: live !== null ? 'live proxy config' : 'existing state' };
  }
  if (existsSync(join(stateDir, 'redis'))) return { hash: LEGACY_DEFAULT_HASH, source: 'existing state' };
  return { hash: NEW_DEPLOYMENT_HASH, source: 'new' };
}

/** The pool's hash in a nutcracker.yml (nutcracker's default when the pool states none); null if unreadable. */
function liveHash(file: string, pool: string): HashName | null {
  try {
    const doc = parseDocument(readFileSync(file, 'utf8')).toJS() as Record<string, { hash?: unknown }> | null;
    const p = doc?.[pool];
    if (p === undefined || p === null || typeof p !== 'object') return null;
    const h = p.hash ?? 'fnv1a_64';
    return (HASHES as readonly unknown[]).includes(h) ? (h as HashName) : null;
  } catch {
    return null;
  }
}

/** Parses description text; `file` is used for messages and as the base of relative paths. */
export function parseTopology(text: string, file: string): Topology {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    // The message carries the code frame (the lines around the error and a caret): keep it.
    const first = doc.errors[0]!;
    throw new InvalidInputError(`${file}: not valid YAML: ${first.message.trimEnd()}`);
  }
  let raw: unknown;
  try {
    raw = doc.toJS();
  } catch (e) {
    // e.g. an alias (*name) with no anchor
    throw new InvalidInputError(`${file}: not valid YAML: ${(e as Error).message.split('\n')[0]}`, { cause: e });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InvalidInputError(`${file}: expected a mapping with shards, sentinel and proxy at the top level`);
  }
  return fromObject(raw, file, dirname(file));
}

export function fromObject(raw: unknown, file: string | null, baseDir: string): Topology {
  const label = file ?? '(default deployment)';
  const parsed = descriptionSchema.safeParse(raw);
  if (!parsed.success) throw new InvalidInputError(`${label}: ${formatZodError(parsed.error)}`);
  const d = parsed.data;
  const problems = crossCheck(d);
  if (problems.length > 0) throw new InvalidInputError(`${label}: ${problems.join('; ')}`);
  const stateDir = realPathOf(isAbsolute(d.stateDir) ? d.stateDir : resolve(baseDir, d.stateDir));
  const stagingFile = d.agent.stagingFile
    ? resolve(baseDir, d.agent.stagingFile)
    : resolve(stateDir, 'proxy', 'nutcracker.staged.yml');
  const passwordFile = d.auth?.passwordFile ? resolve(baseDir, d.auth.passwordFile) : null;
  return { ...d, file, stateDir, stagingFile, passwordFile, haproxyFrontends: haproxyFrontends(d) };
}

/**
 * The path with symlinks resolved, as far as it exists. Processes are told apart by their working directory
 * (/proc/PID/cwd, always resolved) being inside the state dir, so the state dir must be resolved the same way:
 * `/var/run/x` is `/run/x` on Debian.
 */
function realPathOf(path: string): string {
  let existing = path;
  const rest: string[] = [];
  while (!existsSync(existing)) {
    const parent = dirname(existing);
    if (parent === existing) return path;
    rest.unshift(basename(existing));
    existing = parent;
  }
  try {
    return join(realpathSync(existing), ...rest);
  } catch {
    return path;
  }
}

function formatZodError(err: ZodError): string {
  return err.issues
    .slice(0, 5)
    .map((i) => {
      const path = i.path.length ? formatPath(i.path) : '(top level)';
      return `${path}: ${i.message}`;
    })
    .join('; ');
}

function formatPath(path: PropertyKey[]): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');
}

/**
 * proxy.haproxy.frontends, with each shard not listed on 127.0.0.1 at the first port from proxy.listen's + 10
 * (in shard order) that no other address of the description uses: the default deployment gets 22131 and 22132.
 */
export function haproxyFrontends(d: Pick<Description, 'shards' | 'proxy' | 'sentinel' | 'agent'>): Record<string, string> {
  const listenPort = Number(d.proxy.listen.slice(d.proxy.listen.lastIndexOf(':') + 1));
  const taken = new Set<string>([
    ...d.shards.flatMap((s) => s.instances),
    ...d.sentinel.instances,
    d.proxy.listen,
    d.proxy.stats,
    ...Object.values(d.proxy.haproxy.frontends),
    ...(d.agent.http ? [d.agent.http.listen] : []),
  ]);
  let port = listenPort + 10;
  const out: Record<string, string> = {};
  for (const s of d.shards) {
    const given = d.proxy.haproxy.frontends[s.name];
    if (given !== undefined) {
      out[s.name] = given;
      continue;
    }
    while (taken.has(`127.0.0.1:${port}`)) port++;
    out[s.name] = `127.0.0.1:${port}`;
    taken.add(out[s.name]!);
    port++;
  }
  return out;
}

/** Rules that span fields, which a per-field schema cannot state. */
function crossCheck(d: Description): string[] {
  const out: string[] = [];
  const names = new Set<string>();
  const owners = new Map<string, string>();
  const claim = (addr: string, who: string) => {
    const prev = owners.get(addr);
    if (prev) out.push(`${who}: address ${addr} is already used by ${prev}`);
    else owners.set(addr, who);
  };
  d.shards.forEach((s, i) => {
    if (names.has(s.name)) out.push(`shards[${i}].name: "${s.name}" is used by another shard`);
    names.add(s.name);
    if (!s.instances.includes(s.master)) {
      out.push(`shards[${i}].master: ${s.master} is not one of shards[${i}].instances`);
    }
    s.instances.forEach((a, j) => claim(a, `shards[${i}].instances[${j}]`));
  });
  d.sentinel.instances.forEach((a, j) => claim(a, `sentinel.instances[${j}]`));
  claim(d.proxy.listen, 'proxy.listen');
  claim(d.proxy.stats, 'proxy.stats');
  if (d.agent.http) claim(d.agent.http.listen, 'agent.http.listen');
  // A master refuses every write (NOREPLICAS) while fewer replicas than this are linked: a shard that cannot
  // have that many would be up, "healthy", and useless for writes.
  d.shards.forEach((s, i) => {
    const replicas = s.instances.length - 1;
    if (d.redis.minReplicasToWrite > replicas) {
      out.push(
        `redis.minReplicasToWrite: ${d.redis.minReplicasToWrite} but shards[${i}] (${s.name}) has ${replicas} replicas, so its master would refuse every write (NOREPLICAS); ` +
          `lower redis.minReplicasToWrite (0 allows writes with no replica) or add instances to the shard`,
      );
    }
  });
  for (const name of Object.keys(d.proxy.haproxy.frontends)) {
    if (!names.has(name)) out.push(`proxy.haproxy.frontends.${name}: no shard is named "${name}"`);
  }
  if (d.agent.apply === 'haproxy') {
    const derived = haproxyFrontends(d);
    for (const s of d.shards) {
      const given = d.proxy.haproxy.frontends[s.name] !== undefined;
      const addr = derived[s.name]!;
      if (!given && Number(addr.slice(addr.lastIndexOf(':') + 1)) > 65535) {
        out.push(`proxy.haproxy.frontends.${s.name}: the derived port is past 65535; give the frontend address`);
      } else claim(addr, `proxy.haproxy.frontends.${s.name}${given ? '' : ' (derived from proxy.listen)'}`);
    }
  }
  if (d.sentinel.quorum > d.sentinel.instances.length) {
    out.push(`sentinel.quorum: ${d.sentinel.quorum} is more than the ${d.sentinel.instances.length} sentinels listed`);
  }
  if (d.agent.apply === 'exec' && !d.agent.exec) out.push('agent.exec: required when agent.apply is "exec"');
  if (d.agent.apply !== 'exec' && d.agent.exec) out.push(`agent.exec: only used when agent.apply is "exec" (it is "${d.agent.apply}")`);
  // Sentinel and Redis report addresses as they see them; mixing loopback with other addresses among the
  // instances and sentinels makes their view and the description disagree (notes/sentinel.md).
  const engineHosts = [...d.shards.flatMap((x) => x.instances), ...d.sentinel.instances].map((a) => a.slice(0, a.lastIndexOf(':')));
  const isLoop = (h: string) => h.startsWith('127.') || h === 'localhost' || h === '[::1]';
  const loop = [...new Set(engineHosts.filter(isLoop))];
  const other = [...new Set(engineHosts.filter((h) => !isLoop(h)))];
  if (loop.length > 0 && other.length > 0) {
    out.push(`addresses: loopback (${loop.join(', ')}) mixed with other hosts (${other.join(', ')}) among instances and sentinels; use one kind`);
  }
  return out;
}
