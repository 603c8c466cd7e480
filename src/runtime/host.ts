import { networkInterfaces, hostname } from 'node:os';
import { InvalidInputError } from '../errors.js';
import { allProxies, mustParseAddress, proxiesOn, type ProxyInstance, type Topology } from '../topology/index.js';

/** The parts of a deployment that run on one host. */
export interface LocalParts {
  /** The host they were chosen for, or null when chosen by this machine's own addresses. */
  host: string | null;
  redis: string[];
  sentinels: string[];
  /** The proxies (each with its HAProxy and agent) that run here. */
  proxies: ProxyInstance[];
  /** Whether any proxy runs here. */
  proxy: boolean;
}

function machineAddresses(): Set<string> {
  const out = new Set<string>(['localhost', hostname(), '0.0.0.0', '::']);
  for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) out.add(i.address);
  return out;
}

export function allHosts(topo: Topology): string[] {
  const addrs = [
    ...topo.shards.flatMap((s) => s.instances),
    ...topo.sentinel.instances,
    ...allProxies(topo).map((p) => p.listen),
  ];
  return [...new Set(addrs.map((a) => mustParseAddress(a).host))];
}

/**
 * What belongs to this host: with `host` given, the parts whose address has exactly that host; without it,
 * the parts whose host is one of this machine's addresses (any 127.x counts: loopback is always local).
 */
export function localParts(topo: Topology, host?: string): LocalParts {
  let mine: (h: string) => boolean;
  if (host !== undefined) {
    const hosts = allHosts(topo);
    if (!hosts.includes(host)) {
      throw new InvalidInputError(`--host ${host}: matches nothing in ${topo.file ?? 'the default deployment'} (its hosts: ${hosts.join(', ')})`);
    }
    mine = (h) => h === host;
  } else {
    const local = machineAddresses();
    mine = (h) => local.has(h) || h.startsWith('127.');
  }
  const on = (a: string) => mine(mustParseAddress(a).host);
  const proxies = proxiesOn(topo, mine);
  return {
    host: host ?? null,
    redis: topo.shards.flatMap((s) => s.instances).filter(on),
    sentinels: topo.sentinel.instances.filter(on),
    proxies,
    proxy: proxies.length > 0,
  };
}
