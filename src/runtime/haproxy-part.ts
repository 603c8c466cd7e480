import { existsSync, readFileSync } from 'node:fs';
import { InvalidInputError } from '../errors.js';
import { nutcrackerTargets, readPoolServers, setServerAddresses } from '../render/index.js';
import { haproxyPaths, proxyPaths, type Topology } from '../topology/index.js';
import { atomicWriteFile } from './atomic-write.js';
import { checkHaproxyConf, spawnHaproxy, waitHaproxyListening, writeHaproxyConfig } from './haproxy.js';
import type { Spawned } from './process.js';

/**
 * `up`'s HAProxy: its file is rendered from the current masters every time it starts (runtime changes are
 * memory only, so the file must hold them), checked, started, and waited for on every frontend.
 */
export async function startHaproxyPart(topo: Topology, masters: Record<string, string>): Promise<Spawned> {
  const conf = writeHaproxyConfig(topo, masters);
  const check = await checkHaproxyConf(conf);
  if (!check.ok) throw new InvalidInputError(`${conf}: haproxy rejects it: ${check.error}`);
  const s = await spawnHaproxy(topo);
  await waitHaproxyListening(topo, s);
  return s;
}

/**
 * Before nutcracker starts: its server lines must point where this apply mode wants them (HAProxy's
 * frontends in mode "haproxy", the masters otherwise). A deployment switched between modes while stopped
 * gets its addresses edited; names, weights and every other key stay, so no key moves.
 */
export function alignNutcrackerTargets(topo: Topology, masters: Record<string, string>): void {
  const conf = proxyPaths(topo.proxyDir).conf;
  if (!existsSync(conf)) return;
  const text = readFileSync(conf, 'utf8');
  let servers: Record<string, string>;
  try {
    servers = Object.fromEntries(readPoolServers(text, topo.proxy.name).map((s) => [s.name, s.addr]));
  } catch {
    return; // nutcracker -t reports it next, with its own words
  }
  const want = nutcrackerTargets(topo, masters);
  const frontends = new Set(Object.values(topo.haproxyFrontends));
  const changes: Record<string, string> = {};
  for (const [shard, addr] of Object.entries(servers)) {
    if (want[shard] === undefined) continue;
    const wrongMode = topo.agent.apply === 'haproxy' ? addr !== want[shard] : frontends.has(addr);
    if (wrongMode) changes[shard] = want[shard]!;
  }
  if (Object.keys(changes).length === 0) return;
  atomicWriteFile(conf, setServerAddresses(text, topo.proxy.name, changes), { mode: /redis_auth:/.test(text) ? 0o600 : 0o644 });
}

/** The frontend address per shard in a haproxy.cfg we rendered (its `bind` lines). */
export function readHaproxyFrontends(cfg: string): Record<string, string> {
  const out: Record<string, string> = {};
  let frontend: string | null = null;
  for (const raw of cfg.split('\n')) {
    const line = raw.trim();
    const f = /^frontend\s+fe_(\S+)$/.exec(line);
    if (f) frontend = f[1]!;
    else if (/^(backend|global|defaults|listen)\b/.test(line)) frontend = null;
    const b = /^bind\s+(\S+)/.exec(line);
    if (b && frontend !== null) out[frontend] = b[1]!;
  }
  return out;
}

/**
 * A running HAProxy listens where its file says; a description that moved the frontends since would leave
 * nutcracker pointing at ports nothing serves (or HAProxy on ports the description no longer names). Like
 * other ports, they change only while stopped: this names what moved, or returns null.
 */
export function haproxyFrontendsMoved(topo: Topology): string | null {
  let cfg: string;
  try {
    cfg = readFileSync(haproxyPaths(topo.proxyDir).conf, 'utf8');
  } catch {
    return null;
  }
  const running = readHaproxyFrontends(cfg);
  const moved = topo.shards
    .filter((s) => running[s.name] !== undefined && running[s.name] !== topo.haproxyFrontends[s.name])
    .map((s) => `${s.name}: ${running[s.name]} -> ${topo.haproxyFrontends[s.name]}`);
  const gone = Object.keys(running).filter((n) => !topo.shards.some((s) => s.name === n));
  const added = topo.shards.filter((s) => running[s.name] === undefined).map((s) => s.name);
  const what = [...moved, ...gone.map((n) => `${n}: no longer in the description`), ...added.map((n) => `${n}: new`)];
  return what.length > 0 ? what.join(', ') : null;
}
