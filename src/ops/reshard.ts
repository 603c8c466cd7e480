import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigApplier, ProxySupervisor } from '../agent/index.js';
import { CheckFailedError, EnvironmentError, InvalidInputError } from '../errors.js';
import { readHaproxyServers, readPoolServers } from '../render/index.js';
import { abortReshard, planReshard, resumeReshard, startReshard, type ReshardDeps, type ReshardEvent, type ReshardPlan } from '../reshard/index.js';
import {
  acquireStackLock, atomicWriteFile, checkHaproxyConf, checkNutcrackerConf, haproxyConfig, readHaproxyFrontends, restartAgentWorker, startHaproxyBeside, stopPreviousHaproxy, previousHaproxyLeft, previousHaproxyCfgPath,
} from '../runtime/index.js';
import { agentPaths, allProxies, haproxyPaths, proxyPaths, readPassword, type Topology } from '../topology/index.js';

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

/** Wires the reshard to the agent's config writer: the cut takes the same apply lock the agent takes. */
export function reshardDeps(topo: Topology, emit: (e: ReshardEvent) => void): ReshardDeps {
  const password = readPassword(topo);
  const haproxyMode = topo.agent.apply === 'haproxy';
  // Mode haproxy: nutcracker is supervised the same way (the agent only restarts it when it is gone).
  const proxy = topo.agent.apply === 'supervise' || haproxyMode ? new ProxySupervisor(topo) : null;
  const applier = new ConfigApplier(topo, password, proxy);
  const liveYml = (): string => {
    // Staging mode: the staging file is what the installer applies next, so it is the live ring's source.
    const path = topo.agent.apply === 'staging' ? topo.stagingFile : proxyPaths(topo.proxyDir).conf;
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return readFileSync(proxyPaths(topo.proxyDir).conf, 'utf8');
    }
  };
  const servers = (text: string): Record<string, string> => Object.fromEntries(readPoolServers(text, topo.proxy.name).map((s) => [s.name, s.addr]));
  // haproxy.cfg is written before each runtime switch, under the apply lock: read under it, it is where HAProxy sends.
  // While a successor HAProxy runs beside the serving one (the cut), the file is the successor's: the serving
  // one's text is kept here instead.
  let servingHaproxyCfg: string | null = null;
  const haproxyServers = (): Record<string, string> => readHaproxyServers(servingHaproxyCfg ?? readFileSync(haproxyPaths(topo.proxyDir).conf, 'utf8'));
  const liveMasters = (text: string): Record<string, string> => {
    const s = servers(text);
    if (!haproxyMode) return s;
    const h = haproxyServers();
    return Object.fromEntries(Object.keys(s).map((name) => [name, h[name] ?? s[name]!]));
  };
  /**
   * Mode haproxy's switch: nutcracker stopped first (nothing reaches the old ring), its file written with the new
   * server list (HAProxy's frontends), HAProxy restarted on a config with a frontend per shard of the description
   * (only when they differ from its running file), then nutcracker started. All under the agent's apply lock.
   */
  /**
   * Mode haproxy's switch, all under the agent's apply lock. Before the pause (`fn` pauses): when the shards
   * change, HAProxy's new config is rendered with the current masters, checked (haproxy -c) and started beside
   * the serving HAProxy (both listen on the kept frontends; runtime startHaproxyBeside). Inside the pause:
   * nutcracker stopped (nothing reaches the old ring), its file written with the new server list (the commit),
   * the previous HAProxy stopped, nutcracker started. A cut given up before the commit goes back to a HAProxy
   * on the previous config, started the same way.
   */
  const switchHaproxyMode = async (fn: (liveText: string) => Promise<string | null>, added: Record<string, string>): Promise<void> => {
    await applier.exclusive(async () => {
      await settleHaproxyAfterCrash(topo, liveYml());
      const serving = readFileSync(haproxyPaths(topo.proxyDir).conf, 'utf8');
      const current = readHaproxyServers(serving);
      const masters: Record<string, string> = {};
      for (const s of topo.shards) masters[s.name] = current[s.name] ?? added[s.name] ?? s.master;
      const running = readHaproxyFrontends(serving);
      const frontendsDiffer =
        Object.keys(running).length !== topo.shards.length || topo.shards.some((s) => running[s.name] !== topo.haproxyFrontends[s.name]);
      const haproxyText = frontendsDiffer ? haproxyConfig(topo, masters) : null;
      let t0 = performance.now();
      if (haproxyText !== null) {
        const bad = await checkHaproxyText(topo, haproxyText);
        if (bad) throw new CheckFailedError(`the new haproxy.cfg fails haproxy -c: ${bad}; nothing was paused or changed`);
        servingHaproxyCfg = serving;
        try {
          await startHaproxyBeside(topo, haproxyText);
        } catch (e) {
          atomicWriteFile(haproxyPaths(topo.proxyDir).conf, serving, { mode: 0o600 });
          servingHaproxyCfg = null;
          throw e;
        }
      }
      const besideMs = Math.round(performance.now() - t0);
      let text: string | null;
      try {
        text = await fn(liveYml());
      } catch (e) {
        if (haproxyText !== null) {
          // Back to the previous config: a HAProxy on it beside the successor, then both older ones stopped.
          await startHaproxyBeside(topo, serving);
          await stopPreviousHaproxy(topo);
        }
        throw e;
      } finally {
        servingHaproxyCfg = null;
      }
      if (text === null && !frontendsDiffer && proxy!.current() !== null) return;
      t0 = performance.now();
      await proxy!.stop();
      const t1 = performance.now();
      const conf = proxyPaths(topo.proxyDir).conf;
      if (text !== null) atomicWriteFile(conf, text, { mode: password !== null ? 0o600 : 0o644 });
      const t2 = performance.now();
      if (haproxyText !== null) await stopPreviousHaproxy(topo);
      const t3 = performance.now();
      await proxy!.restart(createHash('sha256').update(readFileSync(conf)).digest('hex'));
      const ms = (a: number, b: number) => Math.round(b - a);
      emit({
        type: 'info',
        message:
          `switch: ${haproxyText !== null ? `new HAProxy started beside the old one before the pause in ${besideMs} ms; ` : ''}in the pause: nutcracker stopped ${ms(t0, t1)} ms, ` +
          `nutcracker.yml written ${ms(t1, t2)} ms, ${haproxyText !== null ? `old HAProxy stopped ${ms(t2, t3)} ms` : 'HAProxy kept'}, nutcracker started ${ms(t3, performance.now())} ms`,
      });
    }, 15_000);
  };
  return {
    topo,
    password,
    liveYml,
    liveMasters,
    check: async (text) => {
      // Mode haproxy's applier checks haproxy.cfg; the reshard's text is nutcracker's.
      const r = haproxyMode ? await checkNutcrackerText(topo, text) : await applier.check(text);
      return r.ok ? null : r.error;
    },
    switchProxy: async (fn, added) => {
      if (haproxyMode) return switchHaproxyMode(fn, added);
      // The file itself, read under the lock: the applier's base may be its last good config instead.
      const r = await applier.apply(() => fn(liveYml()), { lockTimeoutMs: 15_000 });
      if (!r.ok) throw Object.assign(r.error, { stage: r.stage });
    },
    stopProxy: async () => {
      if (!proxy) throw new EnvironmentError('stopping the proxy needs agent.apply supervise or haproxy');
      await proxy.stop();
    },
    restartAgent: async () => {
      await restartAgentWorker(topo);
    },
    emit,
  };
}

/**
 * The cut switches one proxy (topo.proxy's nutcracker, HAProxy and agent): with several, the others would keep
 * the old ring and serve keys from the shards they left. Refused until the cut switches every proxy.
 */
export function refuseSeveralProxies(topo: Topology): void {
  const all = allProxies(topo);
  if (all.length > 1) {
    throw new InvalidInputError(
      `${topo.file ?? 'the description'}: proxies lists ${all.length} proxies (${all.map((p) => p.listen).join(', ')}); reshard's cut switches one proxy only, ` +
        'and the others would keep serving the old ring, so reshard refuses several proxies for now; nothing was changed',
    );
  }
}

export async function reshardPlan(topo: Topology, rate: number | null): Promise<ReshardPlan> {
  refuseSeveralProxies(topo);
  const moved = movedFrontends(topo);
  if (moved !== null) throw new InvalidInputError(moved);
  return planReshard(reshardDeps(topo, () => {}), { rate });
}

/** One command at a time changes a stack (up, down, services, reshard): the state-dir lock, held to the end. */
async function locked<T>(topo: Topology, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireStackLock(topo.stateDir, 'reshard');
  try {
    await settleHaproxyAfterCrash(topo, readFileSync(proxyPaths(topo.proxyDir).conf, 'utf8')).catch(() => {});
    return await fn();
  } finally {
    lock.release();
  }
}

/**
 * Mode haproxy: a shard kept by the reshard must keep its HAProxy frontend (nutcracker's line for it points
 * there). A derived frontend moves when an address added to the description takes its port, or one removed
 * frees a lower one; refused, naming the field that pins it. Null when none moves.
 */
export function movedFrontends(topo: Topology): string | null {
  if (topo.agent.apply !== 'haproxy') return null;
  let running: Record<string, string>;
  try {
    running = readHaproxyFrontends(readFileSync(haproxyPaths(topo.proxyDir).conf, 'utf8'));
  } catch {
    return null;
  }
  const moved = topo.shards.filter((s) => running[s.name] !== undefined && running[s.name] !== topo.haproxyFrontends[s.name]);
  if (moved.length === 0) return null;
  return (
    `${topo.file ?? 'the description'}: ${moved.map((s) => `proxy.haproxy.frontends.${s.name} would move from ${running[s.name]} to ${topo.haproxyFrontends[s.name]}`).join(', ')} ` +
    `(its frontend is derived from proxy.listen, and the shards added or removed change which ports are free); give ` +
    `${moved.map((s) => `proxy.haproxy.frontends.${s.name}: ${running[s.name]}`).join(', ')} in the description (an added shard's instances must not use those ports); nothing was changed`
  );
}

export async function reshardRun(
  topo: Topology,
  opts: { rate: number | null; emit: (e: ReshardEvent) => void; confirm?: (p: ReshardPlan) => Promise<boolean> },
) {
  refuseSeveralProxies(topo);
  const moved = movedFrontends(topo);
  if (moved !== null) throw new InvalidInputError(moved);
  return locked(topo, () => startReshard(reshardDeps(topo, opts.emit), { rate: opts.rate, ...(opts.confirm ? { confirm: opts.confirm } : {}) }));
}

export async function reshardResume(topo: Topology, emit: (e: ReshardEvent) => void) {
  refuseSeveralProxies(topo);
  return locked(topo, () => resumeReshard(reshardDeps(topo, emit)));
}

export async function reshardAbort(topo: Topology, emit: (e: ReshardEvent) => void) {
  return locked(topo, () => abortReshard(reshardDeps(topo, emit)));
}
