// Over 250 lines on purpose: loading one description with errors that name the file and field, the one-proxy and several-proxies forms alike.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { ZodError } from 'zod';
import { InvalidInputError } from '../errors.js';
import { DEFAULT_DESCRIPTION, DEFAULT_FILE_NAME, LEGACY_DEFAULT_HASH, NEW_DEPLOYMENT_HASH } from './defaults.js';
import { isLoopbackAddress, ownedAddressKey, resolveProxies, type ProxyInstance } from './proxies.js';
import { descriptionSchema, HASHES, type Description, type HashName, type ProxySpec } from './schema.js';

/**
 * A validated description plus where it came from and its paths made absolute. `proxy`, `haproxyFrontends`,
 * `agent.http` and `proxyDir` describe one proxy: the first (the only one in the `proxy:` form), or the one a
 * proxyView chose. allProxies() lists them all.
 */
export interface Topology extends Omit<Description, 'proxy' | 'proxies'> {
  proxy: ProxySpec;
  /** Absolute path of the description file, or null for the built-in default. */
  file: string | null;
  /** Absolute state directory. */
  stateDir: string;
  /** Absolute path of agent.stagingFile in staging mode (defaults into the proxy's folder). */
  stagingFile: string;
  /** Whether agent.stagingFile was given (else each proxy stages into its own folder). */
  stagingFileGiven: boolean;
  /** Absolute path of auth.passwordFile when given. */
  passwordFile: string | null;
  /** HAProxy's frontend per shard name (apply mode "haproxy"): proxy.haproxy.frontends, the rest derived. */
  haproxyFrontends: Record<string, string>;
  /** The folder holding this proxy's proxy/, haproxy/ and agent/ folders (the state dir with one proxy). */
  proxyDir: string;
  /** Every proxy, in description order: read through allProxies / proxiesOn / proxyView (topology/proxies.ts). */
  proxyInstances: ProxyInstance[];
  /** Which of proxyInstances the fields above describe. */
  proxyIndex: number;
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
    const live = liveHash(conf, DEFAULT_DESCRIPTION.proxy?.name ?? 'redis-shard');
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
  const form = proxyFormProblems(d);
  if (form.length > 0) throw new InvalidInputError(`${label}: ${form.join('; ')}`);
  const stateDir = realPathOf(isAbsolute(d.stateDir) ? d.stateDir : resolve(baseDir, d.stateDir));
  const proxies = resolveProxies(d, stateDir, statedAddresses(d));
  const problems = crossCheck(d, proxies);
  if (problems.length > 0) throw new InvalidInputError(`${label}: ${problems.join('; ')}`);
  const first = proxies[0]!;
  const stagingFile = d.agent.stagingFile
    ? resolve(baseDir, d.agent.stagingFile)
    : resolve(first.dir, 'proxy', 'nutcracker.staged.yml');
  const passwordFile = d.auth?.passwordFile ? resolve(baseDir, d.auth.passwordFile) : null;
  const { proxies: _list, ...rest } = d;
  return {
    ...rest,
    proxy: { ...d.proxy, listen: first.listen, stats: first.stats },
    agent: { ...d.agent, http: first.http },
    file, stateDir, stagingFile, stagingFileGiven: d.agent.stagingFile !== undefined, passwordFile,
    haproxyFrontends: first.frontends, proxyDir: first.dir, proxyInstances: proxies, proxyIndex: 0,
  };
}

/** One proxy (`proxy.listen`) or several (`proxies`), never both: the per-proxy keys then live in each entry. */
function proxyFormProblems(d: Description): string[] {
  if (d.proxies === undefined) return d.proxy.listen === undefined ? ['proxy.listen: required (or list several proxies under proxies)'] : [];
  const out: string[] = [];
  const each = (key: string) => `give it per proxy (proxies[i].${key}) when proxies is given`;
  if (d.proxy.listen !== undefined) out.push(`proxy.listen: ${each('listen')}, or drop proxies for a single proxy`);
  if (d.proxy.stats !== undefined) out.push(`proxy.stats: ${each('stats')}`);
  if (Object.keys(d.proxy.haproxy.frontends).length > 0) out.push(`proxy.haproxy.frontends: ${each('haproxy.frontends')}`);
  if (d.agent.http !== undefined) out.push(`agent.http: ${each('http')}`);
  if (d.agent.stagingFile !== undefined && d.proxies.length > 1) {
    out.push('agent.stagingFile: one file cannot serve several proxies; leave it out (each proxy stages into its own folder)');
  }
  return out;
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
 * The one-proxy form's HAProxy frontends (proxy.haproxy.frontends, the rest derived on 127.0.0.1 from
 * proxy.listen's port + 10); with several proxies, the first's. Each proxy's are in allProxies(topo)[i].frontends.
 */
export function haproxyFrontends(d: Description): Record<string, string> {
  return resolveProxies(d, '', statedAddresses(d))[0]!.frontends;
}

/** Every address the description states, keyed as ownedAddressKey: derived ports are chosen around them. */
function statedAddresses(d: Description): Set<string> {
  const out = new Set<string>([...d.shards.flatMap((s) => s.instances), ...d.sentinel.instances]);
  if (d.proxies === undefined) {
    for (const a of [d.proxy.listen!, d.proxy.stats ?? '127.0.0.1:22222', ...Object.values(d.proxy.haproxy.frontends)]) out.add(a);
    if (d.agent.http) out.add(d.agent.http.listen);
  } else {
    for (const e of d.proxies) {
      const host = e.listen.slice(0, e.listen.lastIndexOf(':')).replace(/^\[|\]$/g, '');
      out.add(e.listen);
      for (const a of [...(e.stats ? [e.stats] : []), ...Object.values(e.haproxy.frontends), ...(e.http ? [e.http.listen] : [])]) out.add(ownedAddressKey(a, host));
    }
  }
  return out;
}

/** Rules that span fields, which a per-field schema cannot state. */
function crossCheck(d: Description, proxies: ProxyInstance[]): string[] {
  const out: string[] = [];
  const names = new Set<string>();
  const owners = new Map<string, string>();
  const single = d.proxies === undefined;
  // A proxy's loopback addresses are its host's own only in the list form; the one-proxy form keeps its old rule.
  const claim = (addr: string, who: string, ownerHost?: string) => {
    const key = ownerHost === undefined || single ? addr : ownedAddressKey(addr, ownerHost);
    const prev = owners.get(key);
    if (prev) out.push(`${who}: address ${addr} is already used by ${prev}`);
    else owners.set(key, who);
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
  // Per proxy: where its keys sit in the description, for messages.
  const key = (p: ProxyInstance, k: string) => (single ? (k === 'http' ? 'agent.http' : `proxy.${k}`) : `${p.field}.${k}`);
  for (const p of proxies) {
    claim(p.listen, key(p, 'listen'));
    const statsGiven = single ? d.proxy.stats !== undefined : d.proxies![p.index]!.stats !== undefined;
    if (!statsGiven && Number(p.stats.slice(p.stats.lastIndexOf(':') + 1)) > 65535) out.push(`${key(p, 'stats')}: the derived port is past 65535; give the stats address`);
    else claim(p.stats, `${key(p, 'stats')}${statsGiven || single ? '' : ` (derived from ${key(p, 'listen')})`}`, p.host);
    if (p.http) claim(p.http.listen, `${key(p, 'http')}.listen`, p.host);
  }
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
  for (const p of proxies) {
    const given = single ? d.proxy.haproxy.frontends : d.proxies![p.index]!.haproxy.frontends;
    const field = `${key(p, 'haproxy')}.frontends`;
    for (const name of Object.keys(given)) {
      if (!names.has(name)) out.push(`${field}.${name}: no shard is named "${name}"`);
    }
    if (d.agent.apply !== 'haproxy') continue;
    for (const s of d.shards) {
      const addr = p.frontends[s.name]!;
      if (given[s.name] === undefined && Number(addr.slice(addr.lastIndexOf(':') + 1)) > 65535) {
        out.push(`${field}.${s.name}: the derived port is past 65535; give the frontend address`);
      } else claim(addr, `${field}.${s.name}${given[s.name] !== undefined ? '' : ` (derived from ${key(p, 'listen')})`}`, p.host);
    }
    // nutcracker reaches its HAProxy over loopback or its own host: a frontend elsewhere would be another host's.
    for (const [name, addr] of Object.entries(given)) {
      const h = addr.slice(0, addr.lastIndexOf(':'));
      if (!single && !isLoopbackAddress(addr) && h !== p.host) out.push(`${field}.${name}: ${addr} is not on the proxy's host (${p.host}) nor loopback`);
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
