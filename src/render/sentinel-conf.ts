import type { Topology } from '../topology/index.js';
import { mustParseAddress, sentinelPaths } from '../topology/index.js';
import { processLines } from './process-lines.js';
import { quote } from './quote.js';

export interface SentinelConfInput {
  addr: string;
  /** Current master of each shard, by shard name: the description's at first start, else what Sentinel knows. */
  masters: Record<string, string>;
  password: string | null;
}

/**
 * sentinel.conf for one sentinel. Sentinel rewrites this file with everything it learns (replicas, other
 * sentinels, epochs, the current master), so it is rendered only when the file does not exist yet.
 */
export function renderSentinelConf(topo: Topology, input: SentinelConfInput): string {
  const { host, port } = mustParseAddress(input.addr);
  const p = sentinelPaths(topo.stateDir, input.addr);
  const s = topo.sentinel;
  const lines = [
    `# Rendered by redis-shard for sentinel ${input.addr} at its first start. Sentinel rewrites this file`,
    '# with what it learns; redis-shard never renders it again.',
    '',
    ...processLines(host, port, p),
    'sentinel resolve-hostnames no',
    '',
    `# down-after-milliseconds ${s.downAfterMilliseconds}: detection is most of a failover's downtime. On one host`,
    '# 1000 ms is safe; across hosts use 3000-5000 so a slow network does not cause needless failovers.',
    `# quorum ${s.quorum} of ${s.instances.length}: no single sentinel can declare a master dead, and a failover`,
    '# also needs a majority of sentinels to elect a leader.',
  ];
  if (input.password !== null) {
    lines.push('', '# The sentinels share the stack password, for clients and for each other.');
    lines.push(`requirepass ${quote(input.password)}`, `sentinel sentinel-pass ${quote(input.password)}`);
  }
  for (const shard of topo.shards) {
    const masterAddr = input.masters[shard.name] ?? shard.master;
    const m = mustParseAddress(masterAddr);
    lines.push(
      '',
      `sentinel monitor ${shard.name} ${m.host} ${m.port} ${s.quorum}`,
      `sentinel down-after-milliseconds ${shard.name} ${s.downAfterMilliseconds}`,
      `sentinel failover-timeout ${shard.name} ${s.failoverTimeout}`,
      `sentinel parallel-syncs ${shard.name} ${s.parallelSyncs}`,
    );
    if (input.password !== null) lines.push(`sentinel auth-pass ${shard.name} ${quote(input.password)}`);
  }
  return lines.join('\n') + '\n';
}
