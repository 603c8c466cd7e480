import { ringForTopology } from '../locate.js';
import type { Topology } from '../../topology/index.js';
import { checkCommands, type CompatReport } from './check.js';
import { parseCommands } from './parse.js';
import { InvalidInputError } from '../../errors.js';
import { REDIS_COMMANDS } from './redis-commands.js';

/** `compat`: parse the input, then judge every call against the deployment's ring. */
export function compatReport(topo: Topology, source: string, data: Buffer): CompatReport & { ring: string } {
  const input = parseCommands(source, data);
  // Text in which no line starts with a command is not a command list (a log, prose, a CSV): say so, rather
  // than call every word an unknown command.
  if (input.calls.length > 0 && input.calls.every((c) => !REDIS_COMMANDS.has(c.name))) {
    const first = input.calls[0]!;
    throw new InvalidInputError(
      `${source}: none of its ${input.calls.length} lines starts with a Redis command (line ${first.line} starts with "${first.name.slice(0, 40)}"): expected redis-cli commands, one per line, or MONITOR output`,
    );
  }
  const random = topo.proxy.distribution === 'random';
  const ring = random ? null : ringForTopology(topo);
  const tag = topo.proxy.hash_tag ?? null;
  const where = topo.file ?? 'the built-in default deployment';
  return {
    ...checkCommands(source, input, ring, tag),
    ring: `${where}'s ring (${topo.shards.length} shards, ${topo.proxy.hash}, ${topo.proxy.distribution}, ${tag === null ? 'no hash_tag' : `hash_tag "${tag}"`})`,
  };
}
