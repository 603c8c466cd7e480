import { join } from 'node:path';
import { InvalidInputError } from '../errors.js';
import { addressSlug, mustParseAddress, parseAddress } from './address.js';
import { isLoopbackHost, type AgentHttpSpec, type Description } from './schema.js';

/**
 * One proxy of the deployment: a nutcracker, in apply mode haproxy the HAProxy beside it, and the agent that
 * keeps them on the elected masters, all on the host of `listen`. A description has one (`proxy.listen`) or
 * several (`proxies:`); every reader asks through allProxies / proxiesOn / proxyView, never `proxies` itself.
 */
export interface ProxyInstance {
  index: number;
  /** The description's name for it in messages: "proxy" (the one-proxy form) or "proxies[1]". */
  field: string;
  /** Its identity (`agent --proxy`, status rows): the nutcracker listen address. */
  listen: string;
  host: string;
  stats: string;
  /** Apply mode haproxy: this proxy's HAProxy frontend per shard (given or derived). */
  frontends: Record<string, string>;
  /** Its agent's HTTP side, if any. */
  http: AgentHttpSpec | undefined;
  /** The folder holding its proxy/, haproxy/ and agent/ folders: the state dir itself with one proxy. */
  dir: string;
}

/** The defaults the one-proxy form has always had; a description written for it keeps its meaning. */
const SINGLE_STATS = '127.0.0.1:22222';

export function isLoopbackAddress(addr: string): boolean {
  const a = parseAddress(addr);
  return typeof a !== 'string' && isLoopbackHost(a.host);
}

/**
 * The key under which an address is unique. A loopback address that belongs to a proxy on another (real)
 * host is that host's own: 127.0.0.1:22131 on 10.0.0.1 and on 10.0.0.2 are two sockets.
 */
export function ownedAddressKey(addr: string, ownerHost: string): string {
  return isLoopbackAddress(addr) && !isLoopbackHost(ownerHost) ? `${addr} on ${ownerHost}` : addr;
}

type ProxyInputs = Pick<Description, 'shards' | 'proxy' | 'proxies' | 'sentinel' | 'agent'>;

/**
 * Every proxy of a validated description (crossCheck has refused the mixed forms), with derived addresses.
 * `taken` is every address the description states explicitly (keys as ownedAddressKey), so a derived port
 * never lands on one of them; derived ports are added to it as they are handed out.
 */
export function resolveProxies(d: ProxyInputs, stateDir: string, taken: Set<string>): ProxyInstance[] {
  if (d.proxies === undefined) {
    const listen = d.proxy.listen!;
    const p = {
      index: 0, field: 'proxy', listen, host: mustParseAddress(listen).host,
      stats: d.proxy.stats ?? SINGLE_STATS, http: d.agent.http, dir: stateDir, frontends: {},
    };
    // As always for the one-proxy form: derived frontends on 127.0.0.1, around addresses as written.
    return [{ ...p, frontends: deriveFrontends(d, listen, d.proxy.haproxy.frontends, '127.0.0.1', (a) => a, taken) }];
  }
  // Stats and frontends stay off the network: on the listen host when that is loopback (tests, one machine), else on 127.0.0.1.
  const localOf = (host: string) => (isLoopbackHost(host) ? host : '127.0.0.1');
  const stats = d.proxies.map((e) => {
    if (e.stats !== undefined) return e.stats;
    const host = mustParseAddress(e.listen).host;
    const derived = `${localOf(host)}:${mustParseAddress(e.listen).port + 101}`;
    taken.add(ownedAddressKey(derived, host));
    return derived;
  });
  return d.proxies.map((e, index) => {
    const host = mustParseAddress(e.listen).host;
    const local = localOf(host);
    return {
      index, field: `proxies[${index}]`, listen: e.listen, host, stats: stats[index]!, http: e.http,
      dir: join(stateDir, 'proxies', addressSlug(e.listen)),
      frontends: deriveFrontends(d, e.listen, e.haproxy.frontends, local, (a) => ownedAddressKey(a, host), taken),
    };
  });
}

/**
 * `given` frontends, with each shard not listed at `local`: the first port from the listen port + 10 (in shard
 * order) not taken. Ports past 65535 are returned as they are; crossCheck names the field.
 */
function deriveFrontends(
  d: Pick<Description, 'shards'>, listen: string, given: Record<string, string>, local: string, key: (addr: string) => string, taken: Set<string>,
): Record<string, string> {
  let port = mustParseAddress(listen).port + 10;
  const out: Record<string, string> = {};
  for (const s of d.shards) {
    const g = given[s.name];
    if (g !== undefined) {
      out[s.name] = g;
      continue;
    }
    while (taken.has(key(`${local}:${port}`))) port++;
    out[s.name] = `${local}:${port}`;
    taken.add(key(out[s.name]!));
    port++;
  }
  return out;
}

/** What every proxy-aware reader needs of a topology. */
export interface ProxiesOf {
  proxyInstances: ProxyInstance[];
  proxyIndex: number;
}

/** Every proxy of the deployment, in description order. */
export function allProxies(topo: ProxiesOf): ProxyInstance[] {
  return topo.proxyInstances;
}

/** The proxies whose host `isHere` accepts (runtime decides what "this host" means). */
export function proxiesOn(topo: ProxiesOf, isHere: (host: string) => boolean): ProxyInstance[] {
  return topo.proxyInstances.filter((p) => isHere(p.host));
}

/** The proxy `topo.proxy`, `topo.haproxyFrontends`, `topo.agent.http` and `topo.proxyDir` describe. */
export function currentProxy(topo: ProxiesOf): ProxyInstance {
  return topo.proxyInstances[topo.proxyIndex]!;
}

/** The proxy whose listen address is `listen`; the error names the option it came from and the proxies there are. */
export function findProxy(topo: ProxiesOf & { file: string | null }, listen: string, option = '--proxy'): ProxyInstance {
  const p = topo.proxyInstances.find((x) => x.listen === listen);
  if (p === undefined) {
    throw new InvalidInputError(
      `${option} ${listen}: no proxy listens there in ${topo.file ?? 'the default deployment'} (its proxies: ${topo.proxyInstances.map((x) => x.listen).join(', ')})`,
    );
  }
  return p;
}

/**
 * The same topology seen from one proxy: `proxy` (pool settings with its addresses), `haproxyFrontends`,
 * `agent.http` and `proxyDir` are that proxy's. Code written for one proxy (the agent, nutcracker's and
 * HAProxy's start, their paths) runs unchanged on a view.
 */
export function proxyView<T extends ProxiesOf & ViewFields>(topo: T, p: ProxyInstance): T {
  if (topo.proxyInstances[p.index] !== p) throw new Error(`internal: ${p.field} is not a proxy of this topology`);
  return {
    ...topo,
    proxyIndex: p.index,
    proxy: { ...topo.proxy, listen: p.listen, stats: p.stats },
    haproxyFrontends: p.frontends,
    proxyDir: p.dir,
    agent: { ...topo.agent, http: p.http },
    stagingFile: topo.stagingFileGiven ? topo.stagingFile : join(p.dir, 'proxy', 'nutcracker.staged.yml'),
  };
}

interface ViewFields {
  proxy: { listen: string; stats: string };
  haproxyFrontends: Record<string, string>;
  proxyDir: string;
  agent: { http?: AgentHttpSpec | undefined };
  stagingFile: string;
  stagingFileGiven: boolean;
}
