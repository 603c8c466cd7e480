import type { Command } from 'commander';
import { InvalidInputError } from '../errors.js';
import { allProxies, findProxy, loadTopology, proxyView, type Topology } from '../topology/index.js';

/** The description named by the global --config option (or the default lookup). */
export function topologyFrom(cmd: Command): Topology {
  const opts = cmd.optsWithGlobals<{ config?: string }>();
  return loadTopology(opts.config !== undefined ? { config: opts.config } : {});
}

/**
 * The description as one proxy sees it, for commands that act on one proxy (agent, proxy install-staged):
 * `--proxy LISTEN` picks it, and is required when the description lists several.
 */
export function oneProxyTopology(topo: Topology, listen: string | undefined): Topology {
  if (listen !== undefined) return proxyView(topo, findProxy(topo, listen));
  if (allProxies(topo).length > 1) {
    throw new InvalidInputError(`--proxy: required when the description lists several proxies (${allProxies(topo).map((p) => p.listen).join(', ')})`);
  }
  return topo;
}

/** Parses an integer option, naming the option and the value when it is not one. */
export function intOption(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^-?[0-9]+$/.test(value)) throw new InvalidInputError(`${name}: expected a whole number, got "${value}"`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidInputError(`${name}: ${n} is outside ${min}-${max}`);
    return n;
  };
}
