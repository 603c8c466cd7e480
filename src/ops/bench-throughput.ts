/**
 * `redis-shard bench`: the original benchmark, redis-benchmark with the original command set, through the proxy
 * and directly against each shard master, side by side. Runs one after the other so they do not compete for
 * the CPU. redis-benchmark writes its own keys (key:__rand_int__, counter:..., mylist, myset) into the
 * deployment, as the original did.
 */
import { spawn } from 'node:child_process';
import { EnvironmentError, InvalidInputError, TransientError } from '../errors.js';
import { currentMasters, requireBinary } from '../runtime/index.js';
import { mustParseAddress, readPassword, type Topology } from '../topology/index.js';

/** The original command set (README "Benchmark with pipelining"). */
export const BENCH_TESTS = 'set,get,incr,lpush,lpop,sadd,spop,lrange';

export interface ThroughputOptions {
  /** Requests per test (-n). Default 100000. */
  requests?: number;
  /** Parallel connections (-c). Default 100. */
  clients?: number;
  /** Pipelined requests per connection (-P). Default 16. */
  pipeline?: number;
  /** Comma-separated redis-benchmark tests (-t). Default BENCH_TESTS. */
  tests?: string;
  /** Also benchmark each master directly (default true). */
  direct?: boolean;
  /** Called before each target is run, e.g. to print progress. */
  onTarget?: (label: string, addr: string) => void;
}

export interface BenchTarget {
  /** "proxy" or the shard name. */
  label: string;
  addr: string;
  kind: 'proxy' | 'master';
  /** Requests per second by test name as redis-benchmark prints it. */
  rps: Record<string, number>;
}

export interface BenchRow {
  /** redis-benchmark's test name, e.g. "SET", "LRANGE_100 (first 100 elements)". */
  test: string;
  /** Short name for a table: "LRANGE_100", "LPUSH (for LRANGE)". */
  name: string;
  proxy: number | null;
  direct: Array<number | null>;
  /** proxy / mean of the direct figures: what the proxy costs against one master alone. */
  ratio: number | null;
}

export interface ThroughputResult {
  requests: number;
  clients: number;
  pipeline: number;
  targets: BenchTarget[];
  rows: BenchRow[];
}

export async function runThroughputBench(topo: Topology, opts: ThroughputOptions = {}): Promise<ThroughputResult> {
  const requests = opts.requests ?? 100_000;
  const clients = opts.clients ?? 100;
  const pipeline = opts.pipeline ?? 16;
  const tests = opts.tests ?? BENCH_TESTS;
  if (!/^[a-z_]+(,[a-z_]+)*$/.test(tests)) throw new InvalidInputError(`--tests: expected redis-benchmark test names separated by commas, got "${tests}"`);
  const bin = requireBinary('redis-benchmark');
  const password = readPassword(topo);
  const targets: BenchTarget[] = [{ label: 'proxy', addr: topo.proxy.listen, kind: 'proxy', rps: {} }];
  if (opts.direct !== false) {
    const { masters } = await currentMasters(topo, password);
    for (const s of topo.shards) targets.push({ label: s.name, addr: masters[s.name]!, kind: 'master', rps: {} });
  }
  for (const t of targets) {
    opts.onTarget?.(t.label, t.addr);
    const { host, port } = mustParseAddress(t.addr);
    const args = ['-h', host, '-p', String(port), '-t', tests, '-c', String(clients), '-P', String(pipeline), '-n', String(requests), '--csv', '-q'];
    const csv = await runBenchmark(bin, args, password, `${t.label} ${t.addr}`);
    for (const r of parseBenchmarkCsv(csv)) t.rps[r.test] = r.rps;
    if (Object.keys(t.rps).length === 0) throw new TransientError(`redis-benchmark printed no results for ${t.label} ${t.addr}`);
  }
  return { requests, clients, pipeline, targets, rows: benchRows(targets) };
}

/**
 * Runs redis-benchmark. The password goes in with -a (redis-benchmark reads no environment variable for it);
 * it is never echoed: redis-benchmark's warning about -a is dropped and any error text is redacted.
 * redis-benchmark does not exit when it cannot connect (it keeps retrying with "Could not connect" on stderr),
 * so such a line ends the run: the child is killed by its PID and the run fails with that line.
 */
function runBenchmark(bin: string, args: string[], password: string | null, what: string): Promise<string> {
  const argv = password !== null ? [...args, '-a', password] : args;
  const redact = (s: string) => (password !== null ? s.split(password).join('***') : s);
  const noise = /Using a password with '-a'|Could not fetch (server|node) CONFIG/;
  const fatal = /Could not connect|NOAUTH|WRONGPASS|AUTH failed|Error from server|^Error|^ERR/i;
  return new Promise((resolve, reject) => {
    const child = spawn(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let failure: string | null = null;
    const timer = setTimeout(() => fail('no result after 30 minutes'), 30 * 60_000);
    const fail = (why: string) => {
      if (failure !== null) return;
      failure = why;
      child.kill('SIGKILL');
    };
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      const bad = redact(stderr).split('\n').find((l) => l.trim() && !noise.test(l) && fatal.test(l));
      if (bad !== undefined) fail(bad.trim());
    });
    child.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(e.code === 'ENOENT' ? new EnvironmentError(`cannot run ${bin}: not found`) : new TransientError(`cannot run ${bin}: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (failure !== null) return reject(new TransientError(`redis-benchmark against ${what} failed: ${failure}`));
      if (code !== 0) {
        const why = redact(stderr).split('\n').filter((l) => l.trim() && !noise.test(l)).join('; ');
        return reject(new TransientError(`redis-benchmark against ${what} failed (${signal ?? `exit ${code}`}): ${why || 'no message'}`));
      }
      resolve(stdout);
    });
  });
}

/** redis-benchmark --csv: a header line, then `"TEST","rps",...` per test. Pure, for unit tests. */
export function parseBenchmarkCsv(text: string): Array<{ test: string; rps: number }> {
  const out: Array<{ test: string; rps: number }> = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^"([^"]+)","([0-9.]+)"/.exec(line.trim());
    if (!m || m[1] === 'test') continue;
    out.push({ test: m[1]!, rps: Number(m[2]) });
  }
  return out;
}

/** "LRANGE_100 (first 100 elements)" -> "LRANGE_100"; the LPUSH run that only fills the list says so. */
export function shortTestName(test: string): string {
  if (/^LPUSH \(needed to benchmark LRANGE\)$/.test(test)) return 'LPUSH (for LRANGE)';
  return test.replace(/\s*\(.*\)$/, '');
}

export function benchRows(targets: BenchTarget[]): BenchRow[] {
  const proxy = targets.find((t) => t.kind === 'proxy');
  const masters = targets.filter((t) => t.kind === 'master');
  const tests: string[] = [];
  for (const t of targets) for (const k of Object.keys(t.rps)) if (!tests.includes(k)) tests.push(k);
  return tests.map((test) => {
    const p = proxy?.rps[test] ?? null;
    const direct = masters.map((m) => m.rps[test] ?? null);
    const known = direct.filter((d): d is number => d !== null && d > 0);
    const mean = known.length ? known.reduce((a, b) => a + b, 0) / known.length : null;
    return { test, name: shortTestName(test), proxy: p, direct, ratio: p !== null && mean !== null ? p / mean : null };
  });
}
