import { parse } from 'yaml';
import type { Topology } from '../topology/index.js';
import { poolServerOf } from './nutcracker.js';

/**
 * How a nutcracker.yml would place keys differently from the description: the pool's hash, distribution,
 * hash_tag, and its servers' names and weights (ketama hashes names; modula and random also count their order),
 * and each server's address being an instance of the shard it is named after. Empty when a key lands on the
 * same shard either way; a failover (a shard's server moved to another of its instances) changes nothing here.
 *
 * A config that passes `nutcracker -t` may still drop, rename or reweigh a shard: nutcracker would then serve
 * keys from the wrong shard, or lose a shard's keys from view. Neither the agent nor `up` applies such a file.
 */
export function ringDifferences(yamlText: string, topo: Topology): string[] {
  const p = topo.proxy;
  let doc: unknown;
  try {
    // Failsafe: every scalar a string, as nutcracker's libyaml reader sees it.
    doc = parse(yamlText, { schema: 'failsafe' });
  } catch (e) {
    return [`not valid YAML: ${(e as Error).message.split('\n')[0]}`];
  }
  const pool = doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, unknown>)[p.name] : undefined;
  if (pool === null || typeof pool !== 'object' || Array.isArray(pool)) return [`no pool named "${p.name}" (proxy.name)`];
  const settings = pool as Record<string, unknown>;
  const out: string[] = [];
  const same = (key: string, have: unknown, want: string | undefined, field: string) => {
    if ((have === undefined ? undefined : String(have)) !== want) {
      out.push(`${key} is ${have === undefined ? 'not set' : `"${String(have)}"`} but the description's ${field} is ${want === undefined ? 'not set' : `"${want}"`}`);
    }
  };
  same('hash', settings.hash ?? 'fnv1a_64', p.hash, 'proxy.hash');
  same('distribution', settings.distribution ?? 'ketama', p.distribution, 'proxy.distribution');
  same('hash_tag', settings.hash_tag, p.hash_tag, 'proxy.hash_tag');
  const list = settings.servers;
  if (!Array.isArray(list)) return [...out, 'servers is missing or not a list'];
  const seen: string[] = [];
  list.forEach((line, i) => {
    const s = typeof line === 'string' ? poolServerOf(line) : null;
    if (s === null || typeof s === 'string') return void out.push(`servers[${i}] is not "host:port:weight name"${s ? ` (${s})` : ''}`);
    if (!s.named) return void out.push(`servers[${i}] "${line as string}" has no name, so its keys follow its address and move on a failover`);
    const shard = topo.shards.find((x) => x.name === s.name);
    if (!shard) return void out.push(`server "${s.name}" is not a shard of the description (renamed or added?)`);
    if (seen.includes(s.name)) return void out.push(`server "${s.name}" appears twice`);
    seen.push(s.name);
    if (s.weight !== shard.weight) out.push(`server "${s.name}" has weight ${s.weight} but the description's is ${shard.weight}`);
    // Apply mode haproxy points each server at its shard's HAProxy frontend; the name, not the address, places
    // keys, and a frontend serves exactly one shard. (A file from the other mode is realigned by up.)
    const frontend = topo.haproxyFrontends?.[s.name];
    // A fenced shard (agent/fence.ts, modes other than haproxy) points at the fence address, which refuses: its
    // keys land nowhere else. Counting it as a difference made a fenced file unusable to a restarted agent (which
    // then fell back to an unfenced config) and to `up`.
    if (!shard.instances.includes(s.addr) && s.addr !== frontend && s.addr !== topo.agent.fence.address) {
      out.push(`server "${s.name}" points at ${s.addr}, which is not an instance of shard ${s.name}${frontend ? ` nor its HAProxy frontend ${frontend}` : ''}`);
    }
  });
  const missing = topo.shards.filter((x) => !seen.includes(x.name)).map((x) => x.name);
  if (missing.length > 0) out.push(`no server named ${missing.map((m) => `"${m}"`).join(', ')} (the shard${missing.length > 1 ? 's are' : ' is'} dropped or renamed)`);
  // modula and random pick by position: the same names in another order place keys elsewhere.
  if (p.distribution !== 'ketama' && missing.length === 0 && seen.join(',') !== topo.shards.map((x) => x.name).join(',')) {
    out.push(`servers are in the order ${seen.join(', ')} but the description's shards are ${topo.shards.map((x) => x.name).join(', ')} (${p.distribution} places keys by position)`);
  }
  return out;
}
