import type { Topology } from '../topology/index.js';
import { mustParseAddress, redisPaths } from '../topology/index.js';
import { processLines } from './process-lines.js';
import { quote } from './quote.js';

export interface RedisConfInput {
  /** This instance's address, as in the description. */
  addr: string;
  /** The master to replicate from at first start, or null when this instance starts as master. */
  replicaOf: string | null;
  password: string | null;
}

/**
 * redis.conf for one instance. Rendered once, at first start: Redis itself rewrites the file when Sentinel
 * changes its role (CONFIG REWRITE), and that rewritten `replicaof` line is the truth after a failover.
 */
export function renderRedisConf(topo: Topology, input: RedisConfInput): string {
  const { host, port } = mustParseAddress(input.addr);
  const shard = topo.shards.find((s) => s.instances.includes(input.addr));
  if (!shard) throw new Error(`${input.addr} is not an instance of any shard`);
  const p = redisPaths(topo.stateDir, input.addr);
  const r = topo.redis;
  const lines = [
    `# Rendered by redis-shard for shard ${shard.name}, instance ${input.addr}, at its first start.`,
    '# Redis rewrites this file itself when Sentinel changes the role (CONFIG REWRITE); redis-shard never',
    '# renders it again, so the replicaof line below is always the current truth, not the original plan.',
    '',
    ...processLines(host, port, p),
    '',
    '# Durability: an AOF fsynced every second, so a restarted instance comes back with its data.',
    `appendonly ${r.appendonly ? 'yes' : 'no'}`,
    'appendfsync everysec',
    '',
    '# Writes a master cannot replicate are refused rather than silently lost: a master cut off from its',
    `# replicas (partitioned, hung and resumed, or the last survivor of its shard) answers NOREPLICAS after`,
    `# ${r.minReplicasMaxLag} s. minReplicasToWrite 0 in the description trades that safety for availability.`,
    `min-replicas-to-write ${r.minReplicasToWrite}`,
    `min-replicas-max-lag ${r.minReplicasMaxLag}`,
    '',
    '# Replicas re-attach to a newly promoted master quickly: diskless sync with no batching delay.',
    'repl-diskless-sync yes',
    'repl-diskless-sync-delay 0',
    'replica-read-only yes',
    'replica-serve-stale-data yes',
  ];
  if (r.maxmemory > 0) lines.push('', `maxmemory ${r.maxmemory}`);
  if (input.password !== null) {
    lines.push(
      '',
      '# Clients, replicas and sentinels all authenticate with the one password (file mode 0600).',
      `requirepass ${quote(input.password)}`,
      `masterauth ${quote(input.password)}`,
    );
  }
  if (input.replicaOf !== null) {
    const m = mustParseAddress(input.replicaOf);
    lines.push('', `replicaof ${m.host} ${m.port}`);
  }
  return lines.join('\n') + '\n';
}
