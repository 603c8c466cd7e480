import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { TransientError } from '../../errors.js';
import { readHaproxyServers, readPoolServers } from '../../render/index.js';
import { builtEntry, delay, stopLeftovers, NetnsLab, ourPid, readBackends, readPidFile, stopPid } from '../../runtime/index.js';
import {
  agentPaths, haproxyPaths, loadTopology, mustParseAddress, proxyPaths, redisPaths, type DescriptionInput, type Topology,
} from '../../topology/index.js';
import type { StatusReport } from '../status.js';

/**
 * A deployment spread over network-namespace hosts on one machine (runtime/netns.ts), each host started with
 * `redis-shard up --host ADDR` inside its namespace, as an operator would on each machine.
 *
 * Layouts (three Redis hosts h1..h3, each with one sentinel; s1's master on h1, s2's on h2, replicas spread
 * so each host has one instance of each shard):
 *   separate:  the proxy and its agent on a host of their own ("c"), where the clients run too;
 *   colocated: the proxy and its agent on h1, beside s1's master; the clients on h1.
 */
export type Layout = 'separate' | 'colocated';

/** The apply modes the lab runs: the default (haproxy: nutcracker -> per-shard HAProxy frontend) and supervise. */
export type LabApply = 'haproxy' | 'supervise';

export const LAB_PORTS = { s1: 28000, s2: 28010, sentinel: 28020, proxy: 28030, stats: 28031 } as const;

export interface LabStackOptions {
  layout: Layout;
  /** The first three octets of the lab's /24, e.g. "10.231.13". */
  net: string;
  suffix: string;
  fence: boolean;
  /** agent.apply of the stack; default haproxy, the description's default. */
  apply?: LabApply;
  minReplicasMaxLag: number;
  downAfterMs?: number;
  /** Keep the temp dir (configs, logs) after destroy(), for a look at what happened. */
  keepFiles?: boolean;
  /** Progress lines. */
  log?: (line: string) => void;
}

export class LabStack {
  readonly lab: NetnsLab;
  readonly dir: string;
  /** The description as the proxy's host has it (each host has its own copy and its own state dir). */
  topo!: Topology;
  private readonly topos: Record<string, Topology> = {};
  readonly proxyHost: string;
  readonly redisHosts = ['h1', 'h2', 'h3'];
  private description!: DescriptionInput;

  private constructor(readonly opts: LabStackOptions) {
    const hosts = opts.layout === 'separate' ? ['c', 'h1', 'h2', 'h3'] : ['h1', 'h2', 'h3'];
    this.lab = new NetnsLab({ prefix: opts.net, hosts, suffix: opts.suffix });
    this.proxyHost = opts.layout === 'separate' ? 'c' : 'h1';
    this.dir = mkdtempSync(join(tmpdir(), `redis-shard-partitions-${opts.suffix}-`));
  }

  /** Creates the hosts and brings the stack up on them; on any failure everything is removed again. */
  static async start(opts: LabStackOptions): Promise<LabStack> {
    const s = new LabStack(opts);
    try {
      await s.lab.create();
      s.description = s.describe();
      s.writeDescription();
      const hosts = Object.keys(s.lab.addr);
      // Every host at once, as on separate machines: each waits for its replicas to link to masters elsewhere.
      const results = await Promise.all(hosts.map((h) => s.cli(h, ['up', '--host', s.lab.addr[h]!, '--timeout', '120'], 180_000)));
      results.forEach((r, i) => {
        if (r.code !== 0) throw new TransientError(`up --host ${s.lab.addr[hosts[i]!]} failed (${r.code}): ${r.stderr}${r.stdout}`);
      });
      opts.log?.(`stack up on ${hosts.length} hosts (${opts.layout}), apply mode ${s.apply}, fence ${opts.fence ? 'on' : 'off'}, min-replicas-max-lag ${opts.minReplicasMaxLag}`);
      await s.waitConverged(60_000);
    } catch (e) {
      await s.destroy();
      throw e;
    }
    return s;
  }

  private describe(): DescriptionInput {
    const at = (h: string, port: number) => `${this.lab.addr[h]}:${port}`;
    const P = LAB_PORTS;
    return {
      stateDir: 'state',
      shards: [
        { name: 's1', master: at('h1', P.s1), instances: [at('h1', P.s1), at('h2', P.s1), at('h3', P.s1)] },
        { name: 's2', master: at('h2', P.s2), instances: [at('h2', P.s2), at('h3', P.s2), at('h1', P.s2)] },
      ],
      sentinel: {
        instances: ['h1', 'h2', 'h3'].map((h) => at(h, P.sentinel)),
        quorum: 2,
        downAfterMilliseconds: this.opts.downAfterMs ?? 1000,
        failoverTimeout: 10000,
      },
      proxy: { listen: at(this.proxyHost, P.proxy), stats: `127.0.0.1:${P.stats}` },
      redis: { minReplicasToWrite: 1, minReplicasMaxLag: this.opts.minReplicasMaxLag },
      agent: { apply: this.apply, fence: { enabled: this.opts.fence } },
    };
  }

  get apply(): LabApply {
    return this.opts.apply ?? 'haproxy';
  }

  /** Each host's own copy of the description, in its own folder: a state dir per host, as on separate machines. */
  fileOf(host: string): string {
    return join(this.dir, host, 'redis-shard.yml');
  }

  private writeDescription(): void {
    for (const h of Object.keys(this.lab.addr)) {
      mkdirSync(join(this.dir, h), { recursive: true });
      writeFileSync(this.fileOf(h), stringify(this.description));
      this.topos[h] = loadTopology({ config: this.fileOf(h) });
    }
    this.topo = this.topos[this.proxyHost]!;
  }

  /** Runs the built CLI on a host (inside its namespace) with this stack's description. */
  cli(host: string, args: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
    return this.lab.exec(host, [process.execPath, builtEntry('cli/main.js'), '-c', this.fileOf(host), ...args], { timeoutMs });
  }

  /** The host label an address belongs to. A loopback address is the proxy's host's (HAProxy's frontends). */
  hostOf(addr: string): string {
    const h = mustParseAddress(addr).host;
    if (h.startsWith('127.') || h === 'localhost' || h === '[::1]' || h === '::1') return this.proxyHost;
    const label = Object.entries(this.lab.addr).find(([, a]) => a === h)?.[0];
    if (!label) throw new Error(`${addr} is on no host of the lab`);
    return label;
  }

  /**
   * Where the proxy sends each shard's traffic (the master it uses). Mode supervise: nutcracker's server lines.
   * Mode haproxy: nutcracker's lines name HAProxy's loopback frontends, so this is HAProxy's live backend (its
   * file when it does not answer); a fenced shard keeps the address it was fenced from there.
   */
  async proxyTargets(): Promise<Record<string, string>> {
    if (this.apply === 'haproxy') {
      try {
        return Object.fromEntries(Object.entries(await readBackends(this.topo)).map(([k, v]) => [k, v.addr]));
      } catch {
        return readHaproxyServers(readFileSync(haproxyPaths(this.topo.proxyDir).conf, 'utf8'));
      }
    }
    const text = readFileSync(proxyPaths(this.topo.proxyDir).conf, 'utf8');
    return Object.fromEntries(readPoolServers(text, this.topo.proxy.name).map((x) => [x.name, x.addr]));
  }

  async status(): Promise<StatusReport | null> {
    const r = await this.cli(this.proxyHost, ['status', '--json'], 30_000);
    try {
      return JSON.parse(r.stdout) as StatusReport;
    } catch {
      return null;
    }
  }

  /**
   * Waits until `status` says healthy: one master per shard that every sentinel names, the proxy on it, every
   * replica linked to it. Returns how long that took.
   */
  async waitConverged(timeoutMs: number): Promise<number> {
    const t0 = Date.now();
    let last: StatusReport | null = null;
    while (Date.now() - t0 < timeoutMs) {
      last = await this.status();
      if (last?.healthy) return Date.now() - t0;
      await delay(250);
    }
    throw new TransientError(`the stack did not converge within ${timeoutMs} ms: ${last ? last.problems.join('; ') : 'status gave no report'}`);
  }

  /** kill -9 of a Redis instance of the stack, by the PID in its pid file. */
  async kill(addr: string): Promise<void> {
    const stateDir = this.topos[this.hostOf(addr)]!.stateDir;
    const pid = ourPid(redisPaths(stateDir, addr).pid, stateDir);
    if (pid === null) throw new TransientError(`${addr} is not running`);
    await stopPid(pid, { immediateKill: true });
  }

  /** `up --host` on one host again (starts what of it is not running). */
  async upHost(host: string): Promise<void> {
    const r = await this.cli(host, ['up', '--host', this.lab.addr[host]!, '--timeout', '120'], 180_000);
    if (r.code !== 0) throw new TransientError(`up --host ${this.lab.addr[host]} failed (${r.code}): ${r.stderr}${r.stdout}`);
  }

  /** Agent events (events.jsonl) with a time at or after `sinceMs`. */
  agentEvents(sinceMs: number, names?: string[]): Array<Record<string, unknown> & { ts: string; event: string }> {
    let text = '';
    try {
      text = readFileSync(agentPaths(this.topo.proxyDir).events, 'utf8');
    } catch {
      return [];
    }
    const out: Array<Record<string, unknown> & { ts: string; event: string }> = [];
    for (const l of text.split('\n')) {
      if (!l) continue;
      try {
        const e = JSON.parse(l) as Record<string, unknown> & { ts: string; event: string };
        if (Date.parse(e.ts) >= sinceMs && (!names || names.includes(e.event))) out.push(e);
      } catch {
        /* a line being written */
      }
    }
    return out;
  }

  /** Turns fencing on or off: the description changes and the agent restarts on it (its supervisor restarts it). */
  async setFence(enabled: boolean): Promise<void> {
    if (this.opts.fence === enabled) return;
    this.opts.fence = enabled;
    this.description = { ...this.description, agent: { apply: this.apply, fence: { enabled } } };
    this.writeDescription();
    const p = agentPaths(this.topo.proxyDir);
    const old = ourPid(p.pid, this.topo.stateDir);
    const t0 = Date.now();
    if (old !== null) await stopPid(old, { graceMs: 5000 });
    // The supervisor starts a new agent, which reads the description again.
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const started = this.agentEvents(t0, ['agent-started']);
      if (started.length > 0 && readPidFile(p.pid) !== old) return;
      await delay(100);
    }
    throw new TransientError('the agent did not come back after its restart');
  }

  /**
   * Changes the proxy host's apply mode (and fence setting) as an operator would: `down --host` of the proxy's
   * host, the description edited, `up --host` again (up aligns nutcracker's server lines to the mode), then a
   * wait for convergence. The Redis hosts keep running.
   */
  async setApply(apply: LabApply, fence: boolean = this.opts.fence): Promise<void> {
    const addr = this.lab.addr[this.proxyHost]!;
    const r = await this.cli(this.proxyHost, ['down', '--host', addr], 60_000);
    if (r.code !== 0) throw new TransientError(`down --host ${addr} failed (${r.code}): ${r.stderr}${r.stdout}`);
    this.opts.apply = apply;
    this.opts.fence = fence;
    this.description = { ...this.description, agent: { apply, fence: { enabled: fence } } };
    this.writeDescription();
    await this.upHost(this.proxyHost);
    await this.waitConverged(60_000);
    this.opts.log?.(`proxy host ${this.proxyHost} now in apply mode ${apply}, fence ${fence ? 'on' : 'off'}`);
  }

  /** `down --host` on every host, then anything left in the namespaces by PID, then the namespaces and files. */
  async destroy(): Promise<void> {
    try {
      await this.lab.heal().catch(() => {});
      if (this.topo) {
        const hosts = Object.keys(this.lab.addr);
        await Promise.all(hosts.map((h) => this.cli(h, ['down', '--host', this.lab.addr[h]!], 60_000).catch(() => null)));
      }
    } finally {
      await this.lab.destroy();
      for (const t of Object.values(this.topos)) await stopLeftovers(t.stateDir);
      if (!this.opts.keepFiles) rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
