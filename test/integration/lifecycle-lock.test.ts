import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isAlive, ourPid, readPidFile, stopPid, waitFor } from '../../src/runtime/index.js';
import { agentPaths, haproxyPaths, proxyPaths, redisPaths, sentinelPaths, type Topology } from '../../src/topology/index.js';
import { CLI, prepareStack, type TestStack } from '../support/stack.js';

// Ports 23000-23299 belong to this file (helper i9's range).
const stacks: TestStack[] = [];
afterEach(async () => {
  for (const s of stacks.splice(0)) {
    const stateDir = s.topo.stateDir;
    await s.stop().catch(() => {});
    // A process of this stack that no pid file names (a racing up's loser) is stopped too, by PID.
    for (const pid of processesOf(stateDir)) await stopPid(pid, { graceMs: 2000 });
  }
});

function pidFiles(topo: Topology): string[] {
  return [
    ...topo.shards.flatMap((sh) => sh.instances).map((a) => redisPaths(topo.stateDir, a).pid),
    ...topo.sentinel.instances.map((a) => sentinelPaths(topo.stateDir, a).pid),
    proxyPaths(topo.stateDir).pid,
    agentPaths(topo.stateDir).supervisorPid,
    agentPaths(topo.stateDir).pid,
    haproxyPaths(topo.stateDir).pid,
  ];
}

// What up starts: 6 Redis, 3 sentinels, nutcracker, the agent's supervisor, and HAProxy (apply mode haproxy, the default).
const ALL = 12;

/**
 * Every process whose environment names this state dir or whose working directory is inside it (Redis rewrites
 * its title over its environment): what a stack left running, pid file or not.
 */
function processesOf(stateDir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name) || !isAlive(Number(name))) continue;
    let ours = false;
    try {
      ours = readFileSync(`/proc/${name}/environ`, 'latin1').split('\0').includes(`REDIS_SHARD_STATE=${stateDir}`);
    } catch {
      /* gone or not readable */
    }
    try {
      ours ||= `${readlinkSync(`/proc/${name}/cwd`)}/`.startsWith(`${stateDir}/`);
    } catch {
      /* gone or not readable */
    }
    if (ours) out.push(Number(name));
  }
  return out;
}

function startCli(s: TestStack, args: string[]) {
  const child = spawn(process.execPath, [CLI, '-c', s.file, ...args], { cwd: s.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += String(d)));
  child.stderr.on('data', (d) => (out += String(d)));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, output: () => out, exited };
}

describe('one command at a time on a state dir', () => {
  it('two ups started together: one starts the stack, the other waits for it or names it; down then stops everything', async () => {
    const s = prepareStack(23000);
    stacks.push(s);
    const [a, b] = await Promise.all([s.cli(['up', '--timeout', '90']), s.cli(['up', '--timeout', '90'])]);
    const results = [a, b];
    // Every up either succeeded or said who held the lock; none died on a port its twin had taken.
    for (const r of results) {
      if (r.code !== 0) expect(r.stderr).toMatch(/up \(pid \d+, since [0-9T:.-]+Z\) holds the lock/);
      expect(r.stderr).not.toMatch(/already in use|Address already in use/);
    }
    expect(results.filter((r) => new RegExp(`ready: started ${ALL} processes`).test(r.stdout))).toHaveLength(1);
    const pids = pidFiles(s.topo).map((f) => ourPid(f, s.topo.stateDir)).filter((p): p is number => p !== null);
    expect(pids.length).toBe(ALL + 1); // + the agent worker
    // What runs is exactly what the pid files name: no loser left a process of its own behind.
    expect(processesOf(s.topo.stateDir).sort()).toEqual([...pids].sort());
    const d = await s.cli(['down']);
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(new RegExp(`stopped ${ALL} processes`));
    expect(processesOf(s.topo.stateDir)).toEqual([]);
  }, 180_000);

  it('down while an up is starting: the up ends promptly and nothing is left running', async () => {
    const s = prepareStack(23100);
    stacks.push(s);
    const upRun = startCli(s, ['up', '--timeout', '120']);
    // A master that hangs as it starts keeps up starting (waiting for it) for as long as down needs to arrive.
    const pidFile = redisPaths(s.topo.stateDir, s.topo.shards[0]!.master).pid;
    const hung = await waitFor(() => readPidFile(pidFile) ?? undefined, { timeoutMs: 30_000, intervalMs: 2, what: 'up to start a redis' });
    process.kill(hung, 'SIGSTOP');
    const t0 = Date.now();
    const d = await s.cli(['down']).finally(() => {
      try {
        process.kill(hung, 'SIGCONT');
      } catch {
        /* already stopped by up */
      }
    });
    const code = await upRun.exited;
    const upEndedAfterMs = Date.now() - t0;
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/asked up \(pid \d+/);
    expect(code).toBe(1);
    expect(upRun.output()).toMatch(/asked this up to stop/);
    // Promptly: not its 120 s timeout.
    expect(upEndedAfterMs).toBeLessThan(30_000);
    expect(processesOf(s.topo.stateDir)).toEqual([]);
  }, 180_000);

  it('SIGHUP to up --foreground after ready stops everything, like SIGINT', async () => {
    const s = prepareStack(23200);
    stacks.push(s);
    const run = startCli(s, ['up', '--foreground', '--timeout', '90']);
    await waitFor(() => new RegExp(`ready: started ${ALL} processes`).test(run.output()) || undefined, { timeoutMs: 100_000, what: `up --foreground to be ready: ${run.output()}` });
    const pids = pidFiles(s.topo).map((f) => readPidFile(f)).filter((p): p is number => p !== null);
    expect(pids.length).toBeGreaterThanOrEqual(ALL);
    run.child.kill('SIGHUP');
    await run.exited;
    expect(run.output()).toMatch(/stopping/);
    for (const pid of pids) expect(isAlive(pid), `pid ${pid}`).toBe(false);
    expect(processesOf(s.topo.stateDir)).toEqual([]);
  }, 180_000);

  it('down from another terminal ends up --foreground: it says so and exits 0 instead of watching a dead stack', async () => {
    // Ports 30500-30599: the lead's range for this case.
    const s = prepareStack(30500);
    stacks.push(s);
    const run = startCli(s, ['up', '--foreground', '--timeout', '90']);
    try {
      await waitFor(() => new RegExp(`ready: started ${ALL} processes`).test(run.output()) || undefined, { timeoutMs: 100_000, what: `up --foreground to be ready: ${run.output()}` });
      const d = await s.cli(['down']);
      expect(d.code, d.stderr).toBe(0);
      // The live view notices at its next refresh (every 2 s).
      const code = await Promise.race([run.exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 15_000))]);
      expect(code, run.output()).toBe(0);
      expect(run.output()).toMatch(/stopped from elsewhere/);
      expect(processesOf(s.topo.stateDir)).toEqual([]);
    } finally {
      if (run.child.exitCode === null && run.child.signalCode === null) {
        run.child.kill('SIGTERM');
        await run.exited;
      }
    }
  }, 180_000);

  it('down --purge says removed only for a state dir that existed', async () => {
    const s = prepareStack(23290);
    stacks.push(s);
    expect(existsSync(s.topo.stateDir)).toBe(false);
    const r = await s.cli(['down', '--purge']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/removed/);
    expect(r.stdout).toMatch(/nothing to remove/);
    expect(existsSync(join(s.dir, 'state'))).toBe(false);
  });
});
