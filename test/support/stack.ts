import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { down, stopLeftovers, up, type UpOptions } from '../../src/runtime/index.js';
import { loadTopology, type DescriptionInput, type Topology } from '../../src/topology/index.js';

export const CLI = resolve(import.meta.dirname, '../../dist/cli/main.js');

/**
 * A deployment on a test's own port range: shard s1 on base..base+2, s2 on base+10..+12, sentinels on
 * base+20..+22, proxy on base+30 (stats base+31). Never the default deployment's ports.
 */
export function testDescription(base: number, overrides: Partial<DescriptionInput> = {}): DescriptionInput {
  const a = (p: number) => `127.0.0.1:${base + p}`;
  return {
    stateDir: 'state',
    shards: [
      { name: 's1', master: a(0), instances: [a(0), a(1), a(2)] },
      { name: 's2', master: a(10), instances: [a(10), a(11), a(12)] },
    ],
    sentinel: { instances: [a(20), a(21), a(22)], quorum: 2, downAfterMilliseconds: 1000, failoverTimeout: 10000 },
    proxy: { listen: a(30), stats: a(31) },
    ...overrides,
  };
}

export interface CliResult {
  /** The exit code; -1 when the CLI was ended by a signal (then `signal` says which). */
  code: number;
  stdout: string;
  stderr: string;
  signal?: NodeJS.Signals | null;
}

/** The CLI did not finish within the test's limit and was killed: never reported as an exit code. */
export class CliTimeoutError extends Error {}

export interface TestStack {
  dir: string;
  file: string;
  topo: Topology;
  /** Runs the built CLI with -c <this stack's description>. */
  cli(args: string[], opts?: { env?: Record<string, string>; timeoutMs?: number; input?: string }): Promise<CliResult>;
  /** Stops every process of this stack (down, then any pid file left whose process is ours) and removes the dir. */
  stop(): Promise<void>;
}

export function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number; input?: string } = {}): Promise<CliResult> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  return new Promise((resolvePromise, reject) => {
    const t0 = Date.now();
    const child = execFile(
      process.execPath,
      [CLI, ...args],
      { cwd: opts.cwd, env: { ...process.env, ...opts.env }, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: unknown; killed?: boolean; signal?: NodeJS.Signals | null }) | null;
        // execFile's timeout kills the child and reports it like any failure (code null): a hung CLI would read
        // as "exit 1". Say what happened instead, with what it printed so far.
        if (e?.killed && Date.now() - t0 >= timeoutMs) {
          return reject(
            new CliTimeoutError(
              `redis-shard ${args.join(' ')} did not finish within ${timeoutMs} ms and was killed (${e.signal ?? 'SIGKILL'})\n--- stdout\n${String(stdout)}\n--- stderr\n${String(stderr)}`,
            ),
          );
        }
        const signal = e?.signal ?? null;
        const code = !e ? 0 : typeof e.code === 'number' ? e.code : -1;
        resolvePromise({ code, stdout: String(stdout), stderr: signal ? `${String(stderr)}\n[runCli] ended by ${signal}` : String(stderr), signal });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** Writes a description into a fresh temp dir and returns a handle; nothing is started. */
export function prepareStack(base: number, overrides: Partial<DescriptionInput> = {}): TestStack {
  const dir = mkdtempSync(join(tmpdir(), `redis-shard-test-${base}-`));
  const file = join(dir, 'redis-shard.yml');
  writeFileSync(file, stringify(testDescription(base, overrides)));
  const topo = loadTopology({ config: file });
  return {
    dir,
    file,
    topo,
    cli: (args, opts = {}) => runCli(['-c', file, ...args], { cwd: dir, ...opts }),
    stop: async () => {
      try {
        await down(topo);
      } finally {
        await killLeftovers(topo.stateDir);
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Starts the stack in-process (runtime.up) and waits until it is ready. On failure it is torn down. */
export async function startStack(base: number, overrides: Partial<DescriptionInput> = {}, opts: UpOptions = {}): Promise<TestStack> {
  const s = prepareStack(base, overrides);
  try {
    await up(s.topo, { timeoutMs: 60_000, ...opts });
  } catch (e) {
    await s.stop();
    throw e;
  }
  return s;
}

/** Any pid file under the state dir whose process is still ours: stop it, by PID (runtime's own safety net). */
export const killLeftovers = stopLeftovers;

/** prepareStack, then `redis-shard up` through the built CLI, as an operator would; torn down if up fails. */
export async function upStack(base: number, overrides: Partial<DescriptionInput> = {}): Promise<TestStack> {
  const s = prepareStack(base, overrides);
  const r = await s.cli(['up', '--timeout', '90']);
  if (r.code !== 0) {
    await s.stop();
    throw new Error(`up failed (${r.code}): ${r.stderr}${r.stdout}`);
  }
  return s;
}
