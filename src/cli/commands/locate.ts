import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InvalidInputError } from '../../errors.js';
import { locateInNutcracker, locateKeys } from '../../ops/locate.js';
import { intOption, topologyFrom } from '../options.js';

interface LocateFlags {
  json?: boolean;
  hex?: boolean;
  nutcracker?: string;
  pool?: string;
  timeout: number;
}

export function register(program: Command): void {
  program
    .command('locate')
    .description("show the shard (and its current master) each key lives on, computed exactly as nutcracker does")
    .argument('<keys...>', 'keys, as UTF-8 text (or hex bytes with --hex); "-" reads keys from stdin, one per line')
    .option('--json', 'print one JSON document')
    .option('--hex', 'keys are given as hex bytes, e.g. 666f6f for "foo"')
    .option('--nutcracker <file>', 'use this nutcracker.yml instead of the deployment description (no sentinels asked)')
    .option('--pool <name>', 'with --nutcracker: the pool to use when the file has several')
    .option('--timeout <ms>', 'how long to wait for each sentinel', intOption('--timeout', 1, 60_000), 500)
    .action(async (keyArgs: string[], flags: LocateFlags, cmd: Command) => {
      const raw = keyArgs.includes('-') ? await withStdinKeys(keyArgs) : keyArgs.map((k) => Buffer.from(k, 'utf8'));
      const keys = flags.hex ? raw.map((k) => parseHexKey(k.toString('utf8'))) : raw;
      if (flags.pool !== undefined && flags.nutcracker === undefined) {
        throw new InvalidInputError('--pool: only used with --nutcracker FILE');
      }
      if (flags.nutcracker !== undefined) {
        let text: string;
        try {
          text = readFileSync(flags.nutcracker, 'utf8');
        } catch (e) {
          throw new InvalidInputError(`${flags.nutcracker}: cannot read (given with --nutcracker): ${(e as Error).message}`, { cause: e });
        }
        const r = locateInNutcracker(flags.nutcracker, text, keys, flags.pool);
        if (flags.json) {
          const out = r.keys.map((k) => ({ ...showKey(k.key), server: k.ringName, addr: k.addr, serverIndex: k.serverIndex }));
          process.stdout.write(`${JSON.stringify({ pool: r.pool, keys: out }, null, 2)}\n`);
          return;
        }
        printTable(
          ['KEY', 'SERVER', 'ADDRESS'],
          r.keys.map((k) => [displayKey(k.key), k.ringName, k.addr]),
        );
        return;
      }
      const topo = topologyFrom(cmd);
      const located = await locateKeys(topo, keys, { timeoutMs: flags.timeout });
      if (flags.json) {
        const out = located.map((k) => ({
          ...showKey(k.key),
          shard: k.shard,
          ringName: k.ringName,
          master: k.master,
          masterSource: k.masterSource,
          ...(k.noElection !== undefined ? { noElection: k.noElection } : {}),
          ...(k.via !== null ? { via: k.via } : {}),
        }));
        process.stdout.write(`${JSON.stringify({ keys: out }, null, 2)}\n`);
        return;
      }
      printTable(
        ['KEY', 'SHARD', 'MASTER'],
        located.map((k) => [
          displayKey(k.key),
          k.shard,
          (k.masterSource === 'sentinel'
            ? k.master
            : `${k.master} (configured; ${k.noElection !== undefined ? `no elected master: ${k.noElection}` : 'sentinels not asked'})`) + (k.via !== null ? ` via HAProxy ${k.via}` : ''),
        ]),
      );
    });
}

/** The arguments with each "-" replaced by stdin's lines, as bytes (a key need not be valid UTF-8). */
async function withStdinKeys(args: string[]): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const lines = splitLines(Buffer.concat(chunks));
  if (lines.length === 0) throw new InvalidInputError('locate -: stdin held no keys (one key per line expected)');
  return args.flatMap((a) => (a === '-' ? lines : [Buffer.from(a, 'utf8')]));
}

/**
 * One key per line. A trailing CR is dropped (files written on Windows) and blank lines are skipped, so a key
 * that is empty or ends in CR needs --hex on the command line.
 */
export function splitLines(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  while (start < buf.length) {
    let end = buf.indexOf(0x0a, start);
    if (end === -1) end = buf.length;
    let stop = end;
    if (stop > start && buf[stop - 1] === 0x0d) stop--;
    if (stop > start) out.push(buf.subarray(start, stop));
    start = end + 1;
  }
  return out;
}

function parseHexKey(text: string): Buffer {
  const t = text.startsWith('0x') ? text.slice(2) : text;
  if (t.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(t)) {
    throw new InvalidInputError(`--hex: "${text}" is not hex bytes (an even number of 0-9, a-f)`);
  }
  return Buffer.from(t, 'hex');
}

/** The key as text when it is UTF-8 that prints safely; hex always, so binary keys survive JSON. */
function showKey(key: Buffer): { key: string | null; keyHex: string } {
  const text = key.toString('utf8');
  const lossless = Buffer.from(text, 'utf8').equals(key);
  return { key: lossless ? text : null, keyHex: key.toString('hex') };
}

function displayKey(key: Buffer): string {
  const { key: text, keyHex } = showKey(key);
  // Control characters and invalid UTF-8 would garble a terminal; show those keys as hex.
  if (text === null || /[\u0000-\u001f\u007f]/.test(text)) return `hex:${keyHex}`;
  return text === '' ? '""' : text;
}

function printTable(header: string[], rows: string[][]): void {
  // A loop, not Math.max(...rows): a million keys from stdin would overflow the argument list.
  const widths = header.map((h) => h.length);
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i]!, [...c].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - [...c].length))).join('  ');
  process.stdout.write(`${[line(header), ...rows.map(line)].join('\n')}\n`);
}
