import type { Command } from 'commander';
import { InvalidInputError } from '../errors.js';
import { loadTopology, type Topology } from '../topology/index.js';

/** The description named by the global --config option (or the default lookup). */
export function topologyFrom(cmd: Command): Topology {
  const opts = cmd.optsWithGlobals<{ config?: string }>();
  return loadTopology(opts.config !== undefined ? { config: opts.config } : {});
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
