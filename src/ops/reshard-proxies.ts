import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigApplier, ProxySupervisor } from '../agent/index.js';
import { CheckFailedError, EnvironmentError, InvalidInputError } from '../errors.js';
import { readHaproxyServers, readPoolServers } from '../render/index.js';
import type { ReshardDeps, ReshardEvent } from '../reshard/index.js';
import {
  atomicWriteFile, atomicWriteFiles, checkHaproxyConf, checkNutcrackerConf, haproxyConfig, readHaproxyFrontends, restartAgentWorker, startHaproxyBeside, stopPreviousHaproxy, previousHaproxyLeft, previousHaproxyCfgPath,
} from '../runtime/index.js';
import { agentPaths, haproxyPaths, proxyPaths, readPassword, type Topology } from '../topology/index.js';

let checkSeq = 0;
/** nutcracker -t on a text (a temp file beside the agent's, removed after). */
async function checkNutcrackerText(topo: Topology, text: string): Promise<{ ok: true } | { ok: false; error: string }> {
  const dir = agentPaths(topo.proxyDir).dir;
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.reshard-check-${process.pid}-${++checkSeq}.yml`);
  atomicWriteFile(tmp, text, { mode: 0o600 });
  try {
    return await checkNutcrackerConf(tmp);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * A reshard killed between starting a successor HAProxy and stopping the previous one left two running. The one
 * kept must have a frontend for every server line of the live nutcracker.yml: the successor after the commit;
 * before it (the successor lacks a removed shard's frontend), a HAProxy on the previous config, started beside.
 * `topo` is one proxy's view (each proxy has its own HAProxy).
 */
export async function settleHaproxyAfterCrash(topo: Topology, liveText: string): Promise<void> {
  if (topo.agent.apply !== 'haproxy' || !previousHaproxyLeft(topo)) return;
  const frontends = Object.values(readHaproxyFrontends(readFileSync(haproxyPaths(topo.proxyDir).conf, 'utf8')));
  const needed = readPoolServers(liveText, topo.proxy.name).map((s) => s.addr);
  if (!needed.every((a) => frontends.includes(a))) await startHaproxyBeside(topo, readFileSync(previousHaproxyCfgPath(topo), 'utf8'));
  await stopPreviousHaproxy(topo);
}

/** haproxy -c on a text (a temp file beside haproxy.cfg, removed after): null when good, else the reason. */
async function checkHaproxyText(topo: Topology, text: string): Promise<string | null> {
  const tmp = join(haproxyPaths(topo.proxyDir).dir, `.reshard-check-${process.pid}-${++checkSeq}.cfg`);
  atomicWriteFile(tmp, text, { mode: 0o600 });
  try {
    const r = await checkHaproxyConf(tmp);
    return r.ok ? null : r.error;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** One proxy the cut switches: its view of the description, its supervised nutcracker, its agent's applier. */
class SwitchedProxy {
  readonly proxy: ProxySupervisor | null;
  readonly applier: ConfigApplier;
  /**
   * Mode haproxy: haproxy.cfg is written before each runtime switch, under the apply lock: read under it, it is
   * where HAProxy sends. While a successor HAProxy runs beside the serving one (the cut), the file is the
   * successor's: the serving one's text is kept here instead.
   */
  servingHaproxyCfg: string | null = null;

  constructor(
    readonly view: Topology,
    private readonly password: string | null,
  ) {
    // Mode haproxy: nutcracker is supervised the same way (the agent only restarts it when it is gone).
    this.proxy = view.agent.apply === 'supervise' || view.agent.apply === 'haproxy' ? new ProxySupervisor(view) : null;
    this.applier = new ConfigApplier(view, password, this.proxy);
  }

  get conf(): string {
    return proxyPaths(this.view.proxyDir).conf;
  }

  liveYml(): string {
    // Staging mode: the staging file is what the installer applies next, so it is the live ring's source.
    const path = this.view.agent.apply === 'staging' ? this.view.stagingFile : this.conf;
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return readFileSync(this.conf, 'utf8');
    }
  }

  liveMasters(text: string): Record<string, string> {
    const s = Object.fromEntries(readPoolServers(text, this.view.proxy.name).map((x) => [x.name, x.addr]));
    if (this.view.agent.apply !== 'haproxy') return s;
    const h = readHaproxyServers(this.servingHaproxyCfg ?? readFileSync(haproxyPaths(this.view.proxyDir).conf, 'utf8'));
    return Object.fromEntries(Object.keys(s).map((name) => [name, h[name] ?? s[name]!]));
  }

  /** This proxy's nutcracker.yml with `text`, as atomicWriteFiles takes it. */
  file(text: string): { path: string; text: string; mode: number } {
    return { path: this.conf, text, mode: this.password !== null ? 0o600 : 0o644 };
  }

  async restart(): Promise<void> {
    await this.proxy!.restart(createHash('sha256').update(readFileSync(this.conf)).digest('hex'));
  }
}

/** Runs `fn` holding every proxy's apply lock, taken in proxy order (agents take only their own: no cycle). */
function underLocks<T>(ps: SwitchedProxy[], fn: () => Promise<T>, i = 0): Promise<T> {
  if (i === ps.length) return fn();
  return ps[i]!.applier.exclusive(() => underLocks(ps, fn, i + 1), 15_000);
}

/**
 * The new configs, all at once: the first rename is the commit, and the others follow within microseconds (every
 * file was written and fsynced before it), so a crash leaves hardly a moment in which some proxies' files have the
 * new ring and others the old (a proxy restarted on the old one then, by its agent, serves it until --resume).
 */
function writeConfigs(acting: Array<{ p: SwitchedProxy; text: string | null }>): void {
  atomicWriteFiles(acting.flatMap((x) => (x.text !== null ? [x.p.file(x.text)] : [])));
}

/** Mode haproxy, before the pause: one proxy's successor HAProxy (null when its frontends stay as they are). */
interface Successor {
  p: SwitchedProxy;
  serving: string;
  haproxyText: string | null;
  frontendsDiffer: boolean;
}

/** Back to a HAProxy on the previous config beside each successor started, then the older ones stopped. */
async function backToServing(prepared: Successor[]): Promise<void> {
  for (const x of prepared) {
    if (x.haproxyText === null) continue;
    await startHaproxyBeside(x.p.view, x.serving);
    await stopPreviousHaproxy(x.p.view);
  }
}

/**
 * Wires the reshard to the agents' config writers: the cut takes the same apply lock each agent takes. `views` are
 * the proxies it switches (every proxy of the description; ops refuses proxies on other hosts before this).
 */
export function reshardDeps(topo: Topology, views: Topology[], emit: (e: ReshardEvent) => void): ReshardDeps {
  const password = readPassword(topo);
  const haproxyMode = topo.agent.apply === 'haproxy';
  const ps = views.map((v) => new SwitchedProxy(v, password));
  const proxyOf = (i = 0): SwitchedProxy => {
    const p = ps[i];
    if (p === undefined) throw new Error(`internal: no proxy ${i} in this reshard (it switches ${ps.length})`);
    return p;
  };
  const several = ps.length > 1;
  const ms = (a: number, b: number) => Math.round(b - a);

  /**
   * Mode haproxy's switch, all under every proxy's apply lock. Before the pause (`fn` pauses): for each proxy whose
   * frontends change with the shards, HAProxy's new config is rendered with the current masters, checked (haproxy
   * -c) and started beside the serving HAProxy (both listen on the kept frontends; runtime startHaproxyBeside).
   * Inside the pause: every nutcracker stopped (nothing reaches the old ring), then each one's file written with
   * the new server list (the first write is the commit), the previous HAProxys stopped, every nutcracker started.
   * A cut given up before the commit goes back to HAProxys on the previous configs, started the same way.
   */
  const switchHaproxyMode = async (fn: (liveTexts: string[]) => Promise<Array<string | null> | null>, added: Record<string, string>): Promise<void> => {
    await underLocks(ps, async () => {
      const prepared: Successor[] = [];
      const t00 = performance.now();
      try {
        for (const p of ps) {
          await settleHaproxyAfterCrash(p.view, p.liveYml());
          const serving = readFileSync(haproxyPaths(p.view.proxyDir).conf, 'utf8');
          const current = readHaproxyServers(serving);
          const masters: Record<string, string> = {};
          for (const s of p.view.shards) masters[s.name] = current[s.name] ?? added[s.name] ?? s.master;
          const running = readHaproxyFrontends(serving);
          const frontendsDiffer =
            Object.keys(running).length !== p.view.shards.length || p.view.shards.some((s) => running[s.name] !== p.view.haproxyFrontends[s.name]);
          const haproxyText = frontendsDiffer ? haproxyConfig(p.view, masters) : null;
          if (haproxyText !== null) {
            const bad = await checkHaproxyText(p.view, haproxyText);
            if (bad) throw new CheckFailedError(`the new haproxy.cfg${several ? ` of proxy ${p.view.proxy.listen}` : ''} fails haproxy -c: ${bad}; nothing was paused or changed`);
            p.servingHaproxyCfg = serving;
            try {
              await startHaproxyBeside(p.view, haproxyText);
            } catch (e) {
              atomicWriteFile(haproxyPaths(p.view.proxyDir).conf, serving, { mode: 0o600 });
              p.servingHaproxyCfg = null;
              throw e;
            }
          }
          prepared.push({ p, serving, haproxyText, frontendsDiffer });
        }
      } catch (e) {
        for (const p of ps) p.servingHaproxyCfg = null;
        await backToServing(prepared);
        throw e;
      }
      const besideMs = Math.round(performance.now() - t00);
      let texts: Array<string | null> | null;
      try {
        texts = await fn(ps.map((p) => p.liveYml()));
      } catch (e) {
        await backToServing(prepared);
        throw e;
      } finally {
        for (const p of ps) p.servingHaproxyCfg = null;
      }
      const acting = prepared
        .map((x, i) => ({ ...x, text: texts?.[i] ?? null }))
        .filter((x) => x.text !== null || x.frontendsDiffer || x.p.proxy!.current() === null);
      if (acting.length === 0) return;
      const t0 = performance.now();
      await Promise.all(acting.map((x) => x.p.proxy!.stop()));
      const t1 = performance.now();
      writeConfigs(acting);
      const t2 = performance.now();
      for (const x of acting) if (x.haproxyText !== null) await stopPreviousHaproxy(x.p.view);
      const t3 = performance.now();
      await Promise.all(acting.map((x) => x.p.restart()));
      const newHaproxy = acting.some((x) => x.haproxyText !== null);
      emit({
        type: 'info',
        message:
          `switch${several ? ` of ${acting.length} proxies (${acting.map((x) => x.p.view.proxy.listen).join(', ')})` : ''}: ` +
          `${newHaproxy ? `new HAProxy started beside the old one before the pause in ${besideMs} ms; ` : ''}in the pause: nutcracker stopped ${ms(t0, t1)} ms, ` +
          `nutcracker.yml written ${ms(t1, t2)} ms, ${newHaproxy ? `old HAProxy stopped ${ms(t2, t3)} ms` : 'HAProxy kept'}, nutcracker started ${ms(t3, performance.now())} ms`,
      });
    });
  };

  /**
   * Mode supervise's switch, under every proxy's apply lock: `fn` (which pauses and stops every nutcracker), each
   * new text checked (nutcracker -t, cached) before any is written, then written (the first write is the commit),
   * then every nutcracker started. A proxy whose text is unchanged is started only when it is not running (a
   * switch a crash cut short).
   */
  const switchSuperviseMode = async (fn: (liveTexts: string[]) => Promise<Array<string | null> | null>): Promise<void> => {
    await underLocks(ps, async () => {
      const lives = ps.map((p) => p.liveYml());
      const texts = await fn(lives);
      const acting = ps
        .map((p, i) => ({ p, text: texts?.[i] != null && texts[i] !== lives[i] ? texts[i] : null }))
        .filter((x) => x.text !== null || x.p.proxy!.current() === null);
      for (const x of acting) {
        if (x.text === null) continue;
        const check = await x.p.applier.check(x.text);
        if (!check.ok) throw new InvalidInputError(`the new config${several ? ` of proxy ${x.p.view.proxy.listen}` : ''} fails nutcracker -t: ${check.error}; the old one is kept`);
      }
      await Promise.all(acting.map((x) => x.p.proxy!.stop()));
      writeConfigs(acting);
      await Promise.all(acting.map((x) => x.p.restart()));
    });
  };

  return {
    topo,
    views,
    password,
    liveYml: (i) => proxyOf(i).liveYml(),
    liveMasters: (text, i) => proxyOf(i).liveMasters(text),
    check: async (text, i) => {
      // Mode haproxy's applier checks haproxy.cfg; the reshard's text is nutcracker's.
      const r = haproxyMode ? await checkNutcrackerText(proxyOf(i).view, text) : await proxyOf(i).applier.check(text);
      return r.ok ? null : r.error;
    },
    switchProxy: async (fn, added) => {
      if (haproxyMode) return switchHaproxyMode(fn, added);
      if (topo.agent.apply === 'supervise') return switchSuperviseMode(fn);
      // Mode exec (one proxy only, ops refuses several): its command makes the written file take effect.
      // The file itself, read under the lock: the applier's base may be its last good config instead.
      const p = proxyOf(0);
      const r = await p.applier.apply(async () => (await fn([p.liveYml()]))?.[0] ?? null, { lockTimeoutMs: 15_000 });
      if (!r.ok) throw Object.assign(r.error, { stage: r.stage });
    },
    stopProxy: async () => {
      if (ps.some((p) => p.proxy === null)) throw new EnvironmentError('stopping the proxy needs agent.apply supervise or haproxy');
      await Promise.all(ps.map((p) => p.proxy!.stop()));
    },
    restartAgent: async () => {
      for (const p of ps) await restartAgentWorker(p.view);
    },
    emit,
  };
}
