import { isMap, isScalar, isSeq, parseDocument, Scalar } from 'yaml';
import { parseAddress } from '../topology/index.js';
import { poolServerOf, readPoolServers } from './nutcracker.js';

/**
 * Returns `yamlText` with the address of each named server of `pool` replaced, and nothing else changed:
 * comments, order, quoting, weights, names and every other key stay byte for byte. Only the source range of
 * each changed `host:port:weight name` scalar is rewritten, last first so earlier offsets stay valid.
 *
 * Throws (a plain Error naming what is wrong) when the text is not YAML, the pool or a server name is missing,
 * a server line is not `host:port:weight [name]`, or a new address is not `host:port`. Unnamed servers are
 * never matched: their ring name is their address, so moving one would move its keys.
 */
export function setServerAddresses(yamlText: string, pool: string, addresses: Record<string, string>): string {
  for (const [name, addr] of Object.entries(addresses)) {
    const a = parseAddress(addr);
    if (typeof a === 'string') throw new Error(`new address for server "${name}": ${a}`);
  }
  const doc = parseDocument(yamlText, { keepSourceTokens: false });
  if (doc.errors.length > 0) throw new Error(`not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  const root = doc.contents;
  if (!isMap(root)) throw new Error('expected a mapping of pool names at the top level');
  const item = root.items.find((i) => isScalar(i.key) && i.key.value === pool);
  if (!item) throw new Error(`no pool named "${pool}"`);
  const servers = isMap(item.value) ? item.value.get('servers', true) : undefined;
  if (!isSeq(servers)) throw new Error(`pool "${pool}": servers is missing or not a list`);

  const edits: Array<{ start: number; end: number; text: string }> = [];
  const seen = new Set<string>();
  servers.items.forEach((node, i) => {
    if (!isScalar(node) || typeof node.value !== 'string' || !node.range) {
      throw new Error(`pool "${pool}": servers[${i}] is not a "host:port:weight [name]" line`);
    }
    const parsed = poolServerOf(node.value);
    if (typeof parsed === 'string') throw new Error(`pool "${pool}": servers[${i}]: "${node.value}" is not "host:port:weight [name]" (${parsed})`);
    if (!parsed.named) return;
    if (seen.has(parsed.name)) throw new Error(`pool "${pool}": server name "${parsed.name}" appears twice`);
    seen.add(parsed.name);
    const next = addresses[parsed.name];
    if (next === undefined || next === parsed.addr) return;
    const line = `${next}:${parsed.weight} ${parsed.name}`;
    edits.push({ start: node.range[0], end: node.range[1], text: quoteLike(node, line) });
  });
  const missing = Object.keys(addresses).filter((n) => !seen.has(n));
  if (missing.length > 0) throw new Error(`pool "${pool}": no server named ${missing.map((m) => `"${m}"`).join(', ')}`);

  let out = yamlText;
  for (const e of edits.sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.text + out.slice(e.end);

  // The edit is by offsets; reading the result back proves it says exactly what was meant.
  const after = new Map(readPoolServers(out, pool).map((s) => [s.name, s.addr]));
  for (const [name, addr] of Object.entries(addresses)) {
    if (after.get(name) !== addr) throw new Error(`internal: editing server "${name}" did not produce ${addr}`);
  }
  return out;
}

/** Writes the new line in the same scalar style the old one used. */
function quoteLike(node: Scalar, line: string): string {
  switch (node.type) {
    case Scalar.QUOTE_DOUBLE:
      return JSON.stringify(line);
    case Scalar.QUOTE_SINGLE:
      return `'${line.replace(/'/g, "''")}'`;
    default:
      // A plain scalar cannot start with "[" (an IPv6 host would read as a flow sequence): quote those.
      return /^[A-Za-z0-9]/.test(line) ? line : JSON.stringify(line);
  }
}
