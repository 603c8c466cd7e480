/**
 * Reading commands for `compat`: redis-cli syntax (one command per line, quoted as redis-cli quotes, an
 * optional `redis-cli [options]` or `host:port>` prompt in front) or the output of MONITOR. Arguments are bytes.
 */
import { InvalidInputError } from '../../errors.js';

export interface ParsedCall {
  line: number;
  /** Upper-cased command name. */
  name: string;
  args: Buffer[];
}

export interface ParsedInput {
  format: 'redis-cli' | 'monitor';
  calls: ParsedCall[];
  /** Lines that look like commands but cannot be read (unbalanced quotes). */
  unreadable: Array<{ line: number; text: string; error: string }>;
  /** MONITOR lines from inside scripts ([0 lua]): they never pass through a proxy. */
  luaLines: number;
}

const MONITOR_LINE = /^\+?[0-9]+\.[0-9]+ \[[0-9]+ ([^\]]*)\] (.*)$/;
const PROMPT = /^(?:[A-Za-z0-9_.:[\]-]+(?:\[[0-9]+\])?|not connected)> /;
/** redis-cli options that take a value (redis-cli 7.0 --help). */
const CLI_OPTS_WITH_VALUE = new Set([
  '-h', '-p', '-s', '-a', '-u', '-r', '-i', '-n', '-2', '-3', '-d', '-D', '-t', '--user', '--pass', '--askpass', '--cacert', '--cacertdir',
  '--cert', '--key', '--tls-ciphers', '--tls-ciphersuites', '--sni', '--pattern', '--count', '--quoted-pattern', '--rdb', '--functions-rdb',
  '--eval', '--memkeys-samples', '--cluster',
]);

/**
 * `source` names the input in errors ("commands.txt", "stdin"). Refuses binary data and input without a
 * single command, naming the source.
 */
export function parseCommands(source: string, data: Buffer): ParsedInput {
  const nul = data.indexOf(0);
  let text: string;
  try {
    if (nul !== -1) throw new Error('NUL');
    text = new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    const at = nul !== -1 ? nul : firstInvalidUtf8(data);
    throw new InvalidInputError(
      `${source}: binary data (${nul !== -1 ? `byte ${at} is NUL` : `not UTF-8 near byte ${at}`}), not commands: expected redis-cli commands, one per line, or MONITOR output`,
    );
  }
  const lines = text.split(/\r?\n/);
  const calls: ParsedCall[] = [];
  const unreadable: ParsedInput['unreadable'] = [];
  let monitorLines = 0;
  let cliLines = 0;
  let luaLines = 0;
  lines.forEach((raw, i) => {
    const lineNo = i + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line === 'OK' || line === '+OK') return;
    const m = MONITOR_LINE.exec(line);
    let words: Buffer[];
    try {
      if (m) {
        monitorLines++;
        if (m[1] === 'lua') {
          luaLines++;
          return;
        }
        words = splitArgs(m[2]!);
      } else {
        cliLines++;
        words = stripRedisCli(splitArgs(line.replace(PROMPT, '')));
      }
    } catch (e) {
      unreadable.push({ line: lineNo, text: line.length > 80 ? `${line.slice(0, 77)}...` : line, error: (e as Error).message });
      return;
    }
    if (words.length === 0) return;
    calls.push({ line: lineNo, name: words[0]!.toString('utf8').toUpperCase(), args: words.slice(1) });
  });
  if (calls.length === 0 && luaLines === 0) {
    const why = unreadable.length > 0 ? `; ${unreadable.length} unreadable line${unreadable.length === 1 ? '' : 's'}, first line ${unreadable[0]!.line}: ${unreadable[0]!.error}` : '';
    throw new InvalidInputError(`${source}: no commands found (expected redis-cli commands, one per line, or MONITOR output)${why}`);
  }
  return { format: monitorLines > cliLines ? 'monitor' : 'redis-cli', calls, unreadable, luaLines };
}

/** `redis-cli -p 22121 set a b` -> `set a b`. */
function stripRedisCli(words: Buffer[]): Buffer[] {
  if (words.length === 0 || !/(^|\/)redis-cli$/.test(words[0]!.toString('utf8'))) return words;
  let i = 1;
  while (i < words.length) {
    const w = words[i]!.toString('utf8');
    if (!w.startsWith('-')) break;
    i += CLI_OPTS_WITH_VALUE.has(w) ? 2 : 1;
  }
  return words.slice(i);
}

/**
 * redis-cli's argument splitting (sdssplitargs): blanks separate; "..." takes \n \r \t \b \a \\ \" and
 * \xHH; '...' takes \' only; a closing quote must be followed by a blank or the end of the line.
 */
export function splitArgs(line: string): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  const n = line.length;
  while (true) {
    while (i < n && /\s/.test(line[i]!)) i++;
    if (i >= n) return out;
    const bytes: number[] = [];
    const push = (s: string) => bytes.push(...Buffer.from(s, 'utf8'));
    let inDouble = false;
    let inSingle = false;
    let done = false;
    while (!done) {
      const c = line[i];
      if (inDouble) {
        if (c === undefined) throw new Error('unbalanced double quote');
        if (c === '\\' && line[i + 1] === 'x' && /^[0-9a-fA-F]{2}$/.test(line.slice(i + 2, i + 4))) {
          bytes.push(parseInt(line.slice(i + 2, i + 4), 16));
          i += 3;
        } else if (c === '\\' && i + 1 < n) {
          i++;
          const e = line[i]!;
          push(({ n: '\n', r: '\r', t: '\t', b: '\b', a: '\x07' } as Record<string, string>)[e] ?? e);
        } else if (c === '"') {
          if (i + 1 < n && !/\s/.test(line[i + 1]!)) throw new Error('closing quote must be followed by a space');
          done = true;
        } else push(c);
      } else if (inSingle) {
        if (c === undefined) throw new Error('unbalanced single quote');
        if (c === '\\' && line[i + 1] === "'") {
          i++;
          push("'");
        } else if (c === "'") {
          if (i + 1 < n && !/\s/.test(line[i + 1]!)) throw new Error('closing quote must be followed by a space');
          done = true;
        } else push(c);
      } else if (c === undefined || /\s/.test(c)) {
        done = true;
      } else if (c === '"') inDouble = true;
      else if (c === "'") inSingle = true;
      else push(c);
      if (c !== undefined) i++;
    }
    out.push(Buffer.from(bytes));
  }
}

function firstInvalidUtf8(data: Buffer): number {
  let lo = 0;
  let hi = data.length;
  // The shortest prefix that fails to decode ends at (or just after) the first bad byte.
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    try {
      // stream: a prefix that ends inside a valid character is not an error.
      new TextDecoder('utf-8', { fatal: true }).decode(data.subarray(0, mid + 1), { stream: true });
      lo = mid + 1;
    } catch {
      hi = mid;
    }
  }
  return lo;
}
