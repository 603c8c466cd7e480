import { existsSync, readFileSync } from 'node:fs';
import { readHaproxyServers, readPoolServers } from '../render/index.js';
import { ourPid, readBackends, type BackendState } from '../runtime/index.js';
import { haproxyPaths, proxyPaths, type Topology } from '../topology/index.js';

/**
 * The extra hop of apply mode "haproxy", as `status` sees it: where HAProxy sends each shard now (its live
 * backends, from the admin socket), what its file says (what a restarted HAProxy would do), and where
 * nutcracker's server lines point (each should be its shard's frontend).
 */
export interface HaproxyObservation {
  pid: number | null;
  up: boolean;
  error?: string;
  frontends: Record<string, string>;
  /** Live backend per shard (null when HAProxy does not answer). */
  backends: Record<string, BackendState> | null;
  /** haproxy.cfg's server address per shard (empty when absent or unreadable). */
  file: Record<string, string>;
  /** nutcracker.yml's server address per shard (empty when absent or unreadable). */
  nutcracker: Record<string, string>;
}

/** null unless this deployment uses apply mode "haproxy" and the proxy runs on this host. */
export async function observeHaproxy(topo: Topology, proxyLocal: boolean): Promise<HaproxyObservation | null> {
  if (topo.agent.apply !== 'haproxy' || !proxyLocal) return null;
  const p = haproxyPaths(topo.proxyDir);
  const read = <T>(path: string, parse: (t: string) => T, empty: T): T => {
    try {
      return existsSync(path) ? parse(readFileSync(path, 'utf8')) : empty;
    } catch {
      return empty;
    }
  };
  const out: HaproxyObservation = {
    pid: ourPid(p.pid, topo.stateDir),
    up: false,
    frontends: topo.haproxyFrontends,
    backends: null,
    file: read(p.conf, readHaproxyServers, {}),
    nutcracker: read(proxyPaths(topo.proxyDir).conf, (t) => Object.fromEntries(readPoolServers(t, topo.proxy.name).map((s) => [s.name, s.addr])), {}),
  };
  try {
    out.backends = await readBackends(topo);
    out.up = true;
  } catch (e) {
    out.error = (e as Error).message;
  }
  return out;
}

/** Where this shard's traffic goes per HAProxy, and what disagrees along the way. */
export function haproxyShardView(h: HaproxyObservation, shard: string): { target: string | null; problems: string[] } {
  const problems: string[] = [];
  const frontend = h.frontends[shard]!;
  const nut = h.nutcracker[shard];
  if (nut !== undefined && nut !== frontend) problems.push(`nutcracker sends this shard to ${nut}, not to its HAProxy frontend ${frontend}`);
  const live = h.backends?.[shard];
  if (h.backends !== null && !live) problems.push(`HAProxy has no backend server for this shard`);
  if (live?.maint) problems.push(`HAProxy has this shard fenced (maintenance): it sends it nothing`);
  const filed = h.file[shard];
  if (live && filed !== undefined && live.addr !== filed) {
    problems.push(`HAProxy sends this shard to ${live.addr} but its file says ${filed} (a restarted HAProxy would go there)`);
  }
  return { target: live?.addr ?? filed ?? null, problems };
}
