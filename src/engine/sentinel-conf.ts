/**
 * Parsing the lines Sentinel writes into its own config file (it rewrites the file on every change). Pure.
 */

/** The `sentinel monitor` and `sentinel config-epoch` lines of a sentinel.conf. */
export function parseSentinelConf(text: string): { monitors: Record<string, string>; epochs: Record<string, number> } {
  const monitors: Record<string, string> = {};
  const epochs: Record<string, number> = {};
  for (const raw of text.split('\n')) {
    const w = raw.trim().split(/\s+/);
    if (w[0]?.toLowerCase() !== 'sentinel') continue;
    const kind = w[1]?.toLowerCase();
    if (kind === 'monitor' && w.length >= 6) {
      const host = w[3]!.includes(':') ? `[${w[3]}]` : w[3]!;
      monitors[w[2]!] = `${host}:${w[4]}`;
    } else if (kind === 'config-epoch' && w.length >= 4 && /^[0-9]+$/.test(w[3]!)) {
      epochs[w[2]!] = Number(w[3]);
    }
  }
  return { monitors, epochs };
}
