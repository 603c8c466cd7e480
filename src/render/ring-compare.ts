import { parse } from 'yaml';
import { parseServerLine } from '../engine/nutcracker-servers.js';

/**
 * Whether two nutcracker.yml texts place every key on the same named server: same hash, distribution and
 * hash_tag, the same server names with the same weights (and, for modula, in the same order). Addresses may
 * differ: a failover changes an address and moves no key.
 */
export function sameRingYml(a: string, b: string, pool: string): boolean {
  const key = (text: string): string | null => {
    let doc: unknown;
    try {
      doc = parse(text, { schema: 'failsafe' });
    } catch {
      return null;
    }
    const p = doc !== null && typeof doc === 'object' ? (doc as Record<string, unknown>)[pool] : undefined;
    if (p === null || typeof p !== 'object' || Array.isArray(p)) return null;
    const s = p as Record<string, unknown>;
    const list = Array.isArray(s.servers) ? s.servers : [];
    const servers = list.map((l) => {
      const parsed = typeof l === 'string' ? parseServerLine(l) : null;
      return parsed !== null && typeof parsed !== 'string' ? `${parsed.name ?? parsed.addr}:${parsed.weight}` : '?';
    });
    const distribution = String(s.distribution ?? 'ketama');
    if (distribution === 'ketama') servers.sort();
    return JSON.stringify([String(s.hash ?? 'fnv1a_64'), distribution, s.hash_tag === undefined ? '' : String(s.hash_tag), servers]);
  };
  const ka = key(a);
  return ka !== null && ka === key(b);
}
