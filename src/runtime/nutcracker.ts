import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { EnvironmentError } from '../errors.js';
import { mustParseAddress, proxyPaths, type Topology } from '../topology/index.js';
import { requireBinary } from './binaries.js';
import { spawnDetached, type Spawned } from './process.js';
import { portAccepts, waitFor } from './wait.js';

const run = promisify(execFile);

/** Runs `nutcracker -t` on a config. nutcracker prints the reason only to its log, so the log goes to stderr. */
export async function checkNutcrackerConf(path: string): Promise<{ ok: true } | { ok: false; error: string }> {
  const bin = requireBinary('nutcracker');
  try {
    await run(bin, ['-t', '-c', path, '-o', '/dev/stderr'], { timeout: 5000 });
    return { ok: true };
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    const lines = `${err.stderr ?? ''}${err.stdout ?? ''}`
      .split('\n')
      .map((l) => l.replace(/^\[[^\]]*\]\s*/, '').trim())
      .filter((l) => l && !/^nutcracker: configuration file .* syntax is (in)?valid$/.test(l));
    const text = [...new Set(lines)].join('; ');
    // For unknown keys and bad values nutcracker 0.5.0 says only "syntax is invalid", with no reason.
    return {
      ok: false,
      error: text || 'syntax is invalid (nutcracker names no reason; an unknown or repeated key, or a bad value, is the usual cause)',
    };
  }
}

/** nutcracker's argv for a topology: stats bound where the description says (its default is every interface). */
export function nutcrackerArgs(topo: Topology, confPath = proxyPaths(topo.proxyDir).conf): string[] {
  const stats = mustParseAddress(topo.proxy.stats);
  const p = proxyPaths(topo.proxyDir);
  return ['-c', confPath, '-o', p.log, '-s', String(stats.port), '-a', stats.host, '-i', '1000'];
}

/**
 * Starts nutcracker on the rendered config (not daemonized, so the PID we record is the serving process)
 * and waits until it accepts connections. Fails fast, with its log, if it exits first.
 */
export async function startNutcracker(topo: Topology): Promise<number> {
  const spawned = await spawnNutcracker(topo);
  await waitNutcrackerListening(topo, spawned);
  return spawned.pid;
}

/** Spawns nutcracker on the config file (not waited for); `env` is stamped into its environment (the agent's config sha). */
export async function spawnNutcracker(topo: Topology, opts: { env?: Record<string, string> } = {}): Promise<Spawned> {
  const p = proxyPaths(topo.proxyDir);
  return spawnDetached({
    bin: requireBinary('nutcracker'),
    args: nutcrackerArgs(topo),
    logFile: p.log,
    pidFile: p.pid,
    cwd: p.dir,
    stateDir: topo.stateDir,
    ...(opts.env ? { env: opts.env } : {}),
  });
}

export async function waitNutcrackerListening(topo: Topology, spawned: Spawned, timeoutMs = 10_000): Promise<void> {
  const { host, port } = mustParseAddress(topo.proxy.listen);
  const p = proxyPaths(topo.proxyDir);
  await waitFor(() => portAccepts(host, port), {
    timeoutMs,
    intervalMs: 2,
    what: `nutcracker to listen on ${topo.proxy.listen}`,
    abortOn: spawned.exited.then(({ code, signal }) => `nutcracker exited (${signal ?? `code ${code}`}); ${tail(p.log)}`),
  }).catch((e) => {
    throw new EnvironmentError((e as Error).message, { cause: e });
  });
}

/** The last lines of a log, for error messages. */
export function tail(path: string, lines = 5): string {
  try {
    const all = readFileSync(path, 'utf8').trimEnd().split('\n');
    return `last lines of ${path}:\n  ${all.slice(-lines).join('\n  ')}`;
  } catch {
    return `(no log at ${path})`;
  }
}
