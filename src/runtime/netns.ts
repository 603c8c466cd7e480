import { execFile, execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { EnvironmentError } from '../errors.js';
import { delay, isAlive } from './process.js';

/**
 * Hosts on one machine: one network namespace per host, each with one veth into a "switch" namespace that holds
 * two bridges. Every host starts on bridge "a"; a split moves the minority's ports to bridge "b", so each side
 * still reaches its own members and nothing of the other side (packets are dropped, not refused: TCP hangs as it
 * does on a real cut). Nothing is created in the root namespace but the namespace names themselves, and every
 * name carries a per-run suffix. `destroy()` stops every process inside the namespaces (by PID, from
 * `ip netns pids`) and deletes them, which deletes the veths and bridges with them.
 */

export interface HostSpec {
  /** Short label, e.g. "h1". */
  name: string;
  /** IPv4 address inside the /24 of the net. */
  addr: string;
}

export interface NetnsOptions {
  /** e.g. "10.231.17": hosts get addresses from this /24. */
  prefix: string;
  hosts: string[];
  /** Appended to every name: unique per run. */
  suffix: string;
}

const run = (args: string[], timeoutMs = 10_000): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile(args[0]!, args.slice(1), { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new EnvironmentError(`${args.join(' ')}: ${String(stderr).trim() || err.message}`, { cause: err }));
      else resolve(String(stdout));
    });
  });

/** Whether this process can create network namespaces (root with iproute2), with the reason when not. */
export async function netnsAvailable(): Promise<{ ok: true } | { ok: false; why: string }> {
  if (process.getuid?.() !== 0) return { ok: false, why: 'not root (ip netns needs CAP_SYS_ADMIN)' };
  const probe = `rsprobe${process.pid}`;
  try {
    await run(['ip', 'netns', 'add', probe]);
  } catch (e) {
    return { ok: false, why: (e as Error).message };
  }
  await run(['ip', 'netns', 'del', probe]).catch(() => {});
  return { ok: true };
}

export class NetnsLab {
  readonly switchNs: string;
  /** Namespace name by host label. */
  readonly ns: Record<string, string> = {};
  /** Address by host label. */
  readonly addr: Record<string, string> = {};
  private readonly port: Record<string, string> = {};
  private readonly created: string[] = [];
  private readonly rules: Array<{ host: string; pref: number }> = [];
  private exitHook: (() => void) | null = null;

  constructor(private readonly opts: NetnsOptions) {
    this.switchNs = `rs-sw-${opts.suffix}`;
    opts.hosts.forEach((h, i) => {
      this.ns[h] = `rs-${h}-${opts.suffix}`;
      this.addr[h] = `${opts.prefix}.${i + 1}`;
      // Interface names are at most 15 characters.
      this.port[h] = `p${i}${opts.suffix}`.slice(0, 15);
    });
  }

  /** Namespace names this lab uses (for checks that nothing is left behind). */
  names(): string[] {
    return [this.switchNs, ...Object.values(this.ns)];
  }

  async create(): Promise<void> {
    // On a crash of the process running the lab, the namespaces still go (synchronously: an exit hook cannot wait).
    this.exitHook = () => this.destroySync();
    process.once('exit', this.exitHook);
    const sw = this.switchNs;
    await run(['ip', 'netns', 'add', sw]);
    this.created.push(sw);
    await run(['ip', '-n', sw, 'link', 'set', 'lo', 'up']);
    for (const br of ['bra', 'brb']) {
      await run(['ip', '-n', sw, 'link', 'add', br, 'type', 'bridge']);
      await run(['ip', '-n', sw, 'link', 'set', br, 'up']);
    }
    for (const h of this.opts.hosts) {
      const ns = this.ns[h]!;
      await run(['ip', 'netns', 'add', ns]);
      this.created.push(ns);
      await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      // Created in the host's namespace, peer moved to the switch: nothing of it ever lives in the root namespace.
      await run(['ip', '-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', this.port[h]!, 'netns', sw]);
      await run(['ip', '-n', ns, 'addr', 'add', `${this.addr[h]}/24`, 'dev', 'eth0']);
      await run(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
      await run(['ip', '-n', sw, 'link', 'set', this.port[h]!, 'master', 'bra', 'up']);
    }
  }

  /** Cuts the hosts in `minority` off from the rest (they still reach each other). */
  async split(minority: string[]): Promise<void> {
    for (const h of minority) await run(['ip', '-n', this.switchNs, 'link', 'set', this.port[h]!, 'master', 'brb']);
  }

  /** Every host back on one bridge; every port rule removed. */
  async heal(): Promise<void> {
    for (const h of this.opts.hosts) await run(['ip', '-n', this.switchNs, 'link', 'set', this.port[h]!, 'master', 'bra']);
    while (this.rules.length > 0) {
      const r = this.rules.pop()!;
      await run(['ip', '-n', this.ns[r.host]!, 'rule', 'del', 'pref', String(r.pref)]);
    }
  }

  /**
   * A partial cut: from `host`, TCP to these ports (any address) is dropped, everything else flows. Used to cut
   * the agent off from the sentinels but not from Redis. Removed by heal().
   */
  async dropPorts(host: string, fromPort: number, toPort: number): Promise<void> {
    const pref = 100 + this.rules.length;
    await run(['ip', '-n', this.ns[host]!, 'rule', 'add', 'pref', String(pref), 'ipproto', 'tcp', 'dport', `${fromPort}-${toPort}`, 'blackhole']);
    this.rules.push({ host, pref });
  }

  /** Runs a command on a host and waits for it; returns its exit code and output. */
  exec(host: string, argv: string[], opts: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(
        'ip',
        ['netns', 'exec', this.ns[host]!, ...argv],
        { timeout: opts.timeoutMs ?? 120_000, killSignal: 'SIGKILL', maxBuffer: 256 * 1024 * 1024, env: { ...process.env, ...opts.env } },
        (err, stdout, stderr) => {
          const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
          resolve({ code, stdout: String(stdout), stderr: String(stderr) });
        },
      );
    });
  }

  /**
   * Starts a long-running command on a host with a pipe to its stdin and from its stdout (the writers); its
   * stderr goes to `logFile`. The caller ends it; destroy() kills whatever is left.
   */
  start(host: string, argv: string[], logFile: string): ReturnType<typeof spawn> {
    mkdirSync(dirname(logFile), { recursive: true });
    const fd = openSync(logFile, 'a', 0o640);
    try {
      return spawn('ip', ['netns', 'exec', this.ns[host]!, ...argv], { stdio: ['pipe', 'pipe', fd] });
    } finally {
      closeSync(fd);
    }
  }

  /** PIDs of processes inside this lab's namespaces. */
  async pids(): Promise<number[]> {
    const out: number[] = [];
    for (const ns of this.created) {
      const text = await run(['ip', 'netns', 'pids', ns]).catch(() => '');
      for (const l of text.split('\n')) if (/^\d+$/.test(l.trim())) out.push(Number(l.trim()));
    }
    return out;
  }

  /** Stops every process inside the namespaces (SIGTERM, SIGKILL after `graceMs`), then deletes the namespaces. */
  async destroy(graceMs = 3000): Promise<void> {
    let pids = await this.pids();
    for (const p of pids) signal(p, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (pids.some(isAlive) && Date.now() < deadline) await delay(20);
    pids = pids.filter(isAlive);
    for (const p of pids) signal(p, 'SIGKILL');
    while (pids.some(isAlive)) await delay(10);
    for (const ns of [...this.created].reverse()) await run(['ip', 'netns', 'del', ns]).catch(() => {});
    this.created.length = 0;
    if (this.exitHook) process.removeListener('exit', this.exitHook);
    this.exitHook = null;
  }

  /** The exit hook's version: SIGKILL by PID and delete, synchronously. */
  private destroySync(): void {
    for (const ns of this.created) {
      let text = '';
      try {
        text = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
      } catch {
        /* gone */
      }
      for (const l of text.split('\n')) if (/^\d+$/.test(l.trim())) signal(Number(l.trim()), 'SIGKILL');
    }
    for (const ns of [...this.created].reverse()) {
      try {
        execFileSync('ip', ['netns', 'del', ns]);
      } catch {
        /* gone */
      }
    }
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
}

/** Namespaces left from runs of this lab kind (name prefix "rs-"), to check that nothing is left behind. */
export async function labNamespaces(suffix: string): Promise<string[]> {
  const text = await run(['ip', 'netns', 'list']).catch(() => '');
  return text
    .split('\n')
    .map((l) => l.split(' ')[0]!.trim())
    .filter((n) => n.startsWith('rs-') && n.endsWith(`-${suffix}`));
}

