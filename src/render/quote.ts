/** Quotes a value for redis.conf / sentinel.conf, which split on spaces and honour double quotes. */
export function quote(v: string): string {
  return /^[A-Za-z0-9_./:@+-]+$/.test(v) ? v : `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

