import { parseDocument, isMap, isSeq, isScalar } from 'yaml';
import { parseServerLine } from '../engine/nutcracker-servers.js';
import type { Topology } from '../topology/index.js';

export interface PoolServer {
  /** The ring name: the name after the space, else `host:port` as written. */
  name: string;
  /** host:port the proxy sends this server's keys to. */
  addr: string;
  weight: number;
  /** Whether the line carried an explicit name. */
  named: boolean;
}

/**
 * nutcracker.yml for the pool. Each server line is `host:port:weight name` with the shard's name: ketama hashes
 * the name, so moving a shard to its new master changes an address and moves no key.
 */
export function renderNutcrackerYml(topo: Topology, masters: Record<string, string>, password: string | null): string {
  const p = topo.proxy;
  const lines = [
    '# Rendered by redis-shard. The agent edits only the server addresses when Sentinel elects a new master;',
    '# names, weights and every other key are kept as they are here.',
    `${p.name}:`,
    `  listen: ${p.listen}`,
    `  hash: ${p.hash}`,
    `  distribution: ${p.distribution}`,
  ];
  if (p.hash_tag !== undefined) lines.push(`  hash_tag: ${JSON.stringify(p.hash_tag)}`);
  lines.push(
    '  # A request waits at most this long (ms) for a shard; nutcracker would otherwise wait forever.',
    `  timeout: ${p.timeout}`,
    `  backlog: ${p.backlog}`,
    `  preconnect: ${p.preconnect}`,
    '  redis: true',
    `  server_connections: ${p.server_connections}`,
    '  # Sentinel owns failure handling: ejecting a shard would send its keys to the other shards.',
    `  auto_eject_hosts: ${p.auto_eject_hosts}`,
    `  server_retry_timeout: ${p.server_retry_timeout}`,
    `  server_failure_limit: ${p.server_failure_limit}`,
    `  tcpkeepalive: ${p.tcpkeepalive}`,
  );
  if (p.redis_db !== undefined) lines.push(`  redis_db: ${p.redis_db}`);
  // Quoted: a password may start with a character YAML reads as syntax (#, *, !, %...); quotes and
  // backslashes never occur in it (topology/password.ts refuses them).
  if (password !== null) lines.push(`  redis_auth: ${JSON.stringify(password)}`);
  lines.push('  servers:');
  for (const s of topo.shards) {
    lines.push(`    - ${masters[s.name] ?? s.master}:${s.weight} ${s.name}`);
  }
  return lines.join('\n') + '\n';
}

/** One server line as nutcracker reads it (engine's parser), with the ring name filled in; an error text when it is not one. */
export function poolServerOf(line: string): PoolServer | string {
  const parsed = parseServerLine(line);
  if (typeof parsed === 'string') return parsed;
  return { addr: parsed.addr, weight: parsed.weight, name: parsed.name ?? parsed.addr, named: parsed.name !== undefined };
}

/** The servers of one pool of a nutcracker.yml (the first pool when none is named). */
export function readPoolServers(yamlText: string, pool?: string): PoolServer[] {
  const doc = parseDocument(yamlText);
  if (doc.errors.length > 0) throw new Error(`not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  const root = doc.contents;
  if (!isMap(root)) throw new Error('expected a mapping of pool names at the top level');
  const item = pool === undefined ? root.items[0] : root.items.find((i) => isScalar(i.key) && i.key.value === pool);
  if (!item) throw new Error(pool === undefined ? 'no pool defined' : `no pool named "${pool}"`);
  const poolName = isScalar(item.key) ? String(item.key.value) : '?';
  const servers = isMap(item.value) ? item.value.get('servers') : undefined;
  if (!isSeq(servers)) throw new Error(`pool "${poolName}": servers is missing or not a list`);
  return servers.items.map((s, i) => {
    const text = isScalar(s) ? String(s.value) : '';
    const parsed = poolServerOf(text);
    if (typeof parsed === 'string') throw new Error(`pool "${poolName}": servers[${i}]: "${text}" is not "host:port:weight [name]" (${parsed})`);
    return parsed;
  });
}
