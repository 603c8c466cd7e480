/** A tiny RESP2 reader and writer, for probes that must not keep a client library's connection. */

export function encodeCommand(args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

export interface RespError {
  error: string;
}

/** One RESP2 value from `buf` at `at`: null when incomplete; throws when malformed. Integers come back as numbers. */
export function parseResp(buf: Buffer, at: number): { value: unknown; next: number } | null {
  if (at >= buf.length) return null;
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return buf.length - at > 64 * 1024 ? fail('line too long') : null;
  const type = String.fromCharCode(buf[at]!);
  const line = buf.toString('utf8', at + 1, eol);
  const next = eol + 2;
  switch (type) {
    case '+':
      return { value: line, next };
    case '-':
      return { value: { error: line } satisfies RespError, next };
    case ':':
      if (!/^-?[0-9]+$/.test(line)) return fail(`bad integer "${line}"`);
      return { value: Number(line), next };
    case '$': {
      const n = intOf(line);
      if (n < 0) return { value: null, next };
      if (buf.length < next + n + 2) return null;
      return { value: buf.toString('utf8', next, next + n), next: next + n + 2 };
    }
    case '*': {
      const n = intOf(line);
      if (n < 0) return { value: null, next };
      const items: unknown[] = [];
      let pos = next;
      for (let i = 0; i < n; i++) {
        const r = parseResp(buf, pos);
        if (r === null) return null;
        items.push(r.value);
        pos = r.next;
      }
      return { value: items, next: pos };
    }
    default:
      return fail(`unexpected type byte 0x${buf[at]!.toString(16)}`);
  }
}

function intOf(line: string): number {
  if (!/^-?[0-9]{1,9}$/.test(line)) fail(`bad length "${line}"`);
  return Number(line);
}

function fail(why: string): never {
  throw new Error(why);
}
