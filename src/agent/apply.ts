// Over 250 lines on purpose: the one apply path (read the live config, edit, lock, check, write, take effect, roll back) is one class; its separable parts are apply-lock.ts, config-checks.ts and activation.ts.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { EnvironmentError, InvalidInputError, TransientError } from '../errors.js';
import { readHaproxyFenced, readHaproxyServers, readPoolServers, renderNutcrackerYml, setHaproxyFenced, setHaproxyServers, setServerAddresses } from '../render/index.js';
import { atomicWriteFile, fenceShard, haproxyConfig, isAlive, readBackends, switchBackend, unfenceShard, type BackendState } from '../runtime/index.js';
import { agentPaths, haproxyPaths, parseAddress, proxyPaths, type ApplyMode, type Topology } from '../topology/index.js';
import { ModeActivation } from './activation.js';
import { ApplyLock } from './apply-lock.js';
import { ConfigChecks, type CheckResult } from './config-checks.js';
import type { ProxySupervisor, RestartTimings } from './proxy.js';

import { sha256 } from '../sha256.js';

export { sha256 };

/** The config the agent edits, with where it came from. */
export interface BaseConfig {
  text: string;
  sha: string;
  /**
   * Where each shard's traffic goes now, by shard name: the pool's server addresses; in apply mode "haproxy",
   * HAProxy's backend addresses as it reports them (the file's when it does not answer).
   */
  servers: Record<string, string>;
  /**
   * Shards fenced now (agent/fence.ts). Mode haproxy: backends in maintenance as HAProxy reports them (the file's
   * `disabled` lines when it does not answer); `servers` keeps the address they were fenced from. Other modes:
   * shards whose server line holds agent.fence.address.
   */
  fenced: string[];
  /** The file it was read from. */
  path: string;
  /** Set when the file itself was unusable and `text` is the last good (or freshly rendered) config instead. */
  problem: string | null;
}

export type ApplyResult =
  | {
      ok: true;
      changed: boolean;
      path: string;
      writtenAtMs: number;
      servingAtMs: number | null;
      restart: RestartTimings | null;
      /** ms spent waiting for the lock, checking, writing (for the events log). */
      steps: { lockMs: number; checkMs: number; writeMs: number };
    }
  | { ok: false; stage: 'lock' | 'edit' | 'check' | 'write' | 'activate'; error: Error };

/**
 * What to write: a text, or a function computing it from the current config as read under the lock (so two
 * writers never compute from a stale base and undo each other). The function returns null for "nothing to do".
 * It may be async: a reshard's cut runs its whole drain and commit inside it, so no other writer comes between.
 */
export type ApplyInput = string | ((base: BaseConfig) => string | null | Promise<string | null>);

/**
 * Writes a new nutcracker.yml and makes it take effect, per apply mode:
 *   supervise: write the proxy config, restart the supervised nutcracker;
 *   staging:   write the staging file only (a privileged watcher installs it);
 *   exec:      write the proxy config, run the configured argv with the config path appended (no shell).
 *   haproxy:   write haproxy.cfg (so a restarted HAProxy starts on the new masters), then switch each changed
 *              shard's backend through the admin socket and read it back; nutcracker is not touched.
 * Every write is checked with `nutcracker -t` (`haproxy -c` in mode haproxy) on the exact bytes first (results cached by sha256), then made
 * atomically (temp file, fsync, rename): a crash leaves the old file or the new one, never a part.
 * One apply at a time, in this process (a promise chain) and across processes (`notify`) by a lock file.
 */
export class ConfigApplier {
  private readonly checks: ConfigChecks;
  private readonly activation: ModeActivation;
  private lastGood: { text: string; sha: string; servers: Record<string, string>; fenced: string[] } | null = null;
  /** supervise mode: the config the supervised nutcracker was last seen serving (started on it, or found running it). */
  private served: { text: string; sha: string } | null = null;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly topo: Topology,
    private readonly password: string | null,
    private readonly proxy: ProxySupervisor | null,
  ) {
    this.checks = new ConfigChecks(topo);
    this.activation = new ModeActivation(topo, proxy);
    removeStaleTemps(this.targetPath());
  }

  /** nutcracker -t (haproxy -c) on exactly this text, cached (config-checks.ts). */
  check(text: string): Promise<CheckResult> {
    return this.checks.check(text);
  }

  /** Whether a config may be applied: the check, and the ring it serves (config-checks.ts). */
  usable(text: string): Promise<CheckResult> {
    return this.checks.usable(text);
  }

  get mode(): ApplyMode {
    return this.topo.agent.apply;
  }

  /** The file this mode writes. */
  targetPath(): string {
    if (this.mode === 'haproxy') return haproxyPaths(this.topo.proxyDir).conf;
    return this.mode === 'staging' ? this.topo.stagingFile : proxyPaths(this.topo.proxyDir).conf;
  }

  /** The address of each shard in a config text of this mode. */
  private serversOf(text: string): Record<string, string> {
    if (this.mode === 'haproxy') return readHaproxyServers(text);
    return Object.fromEntries(readPoolServers(text, this.topo.proxy.name).map((s) => [s.name, s.addr]));
  }

  /** The shards a config text of this mode has fenced. */
  private fencedOf(text: string, servers: Record<string, string>): string[] {
    if (this.mode === 'haproxy') return readHaproxyFenced(text);
    return Object.entries(servers).filter(([, a]) => a === this.topo.agent.fence.address).map(([k]) => k);
  }

  /** HAProxy's live backends (address, maintenance), or null when it does not answer (not running, restarting). */
  private async liveBackends(): Promise<Record<string, BackendState> | null> {
    try {
      return await readBackends(this.topo);
    } catch {
      return null;
    }
  }

  /** Staging mode reads its own staging file once it exists; before that, the config `up` rendered. */
  private basePath(): string {
    const t = this.targetPath();
    return this.mode === 'staging' && !existsSync(t) ? proxyPaths(this.topo.proxyDir).conf : t;
  }

  /**
   * The current config: the file, when it reads as a pool with servers and passes nutcracker -t; otherwise
   * the last good one this process saw (or one rendered from the description), with `problem` saying why.
   */
  async readBase(): Promise<BaseConfig> {
    const base = await this.readBaseFile();
    if (this.mode !== 'haproxy') return base;
    const live = await this.liveBackends();
    if (live === null) return base;
    const servers = { ...base.servers, ...Object.fromEntries(Object.entries(live).map(([k, v]) => [k, v.addr])) };
    const fenced = Object.keys(servers).filter((k) => (live[k] ? live[k].maint : base.fenced.includes(k)));
    return { ...base, servers, fenced };
  }

  private async readBaseFile(): Promise<BaseConfig> {
    const path = this.basePath();
    let problem: string;
    try {
      const text = readFileSync(path, 'utf8');
      const sha = sha256(text);
      // An unchanged file (the common case, every pass) is not parsed or checked again.
      if (this.lastGood?.sha === sha) return { ...this.lastGood, servers: { ...this.lastGood.servers }, fenced: [...this.lastGood.fenced], path, problem: null };
      const servers = this.serversOf(text);
      const usable = await this.usable(text);
      if (usable.ok) {
        this.lastGood = { text, sha, servers, fenced: this.fencedOf(text, servers) };
        return { text, sha, servers: { ...servers }, fenced: [...this.lastGood.fenced], path, problem: null };
      }
      problem = usable.error;
    } catch (e) {
      problem = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'the file does not exist' : (e as Error).message;
    }
    if (this.lastGood) return { ...this.lastGood, path, problem: `${path}: ${problem}; using the last good config` };
    const masters = Object.fromEntries(this.topo.shards.map((s) => [s.name, s.master]));
    const text = this.mode === 'haproxy' ? haproxyConfig(this.topo, masters) : renderNutcrackerYml(this.topo, masters, this.password);
    const servers = Object.fromEntries(this.topo.shards.map((s) => [s.name, s.master]));
    return { text, sha: sha256(text), servers, fenced: [], path, problem: `${path}: ${problem}; no good config seen yet, using one rendered from the description` };
  }

  private readonly edits = new Map<string, string>();

  /**
   * `setServerAddresses` on a base config, memoised: the fast path and the +odown preparation compute the
   * texts a failover may need ahead of time, so the switch itself only looks them up. `fenced` (mode haproxy
   * only, where a fence is a state of the backend rather than an address) fences or unfences those shards.
   */
  edit(base: Pick<BaseConfig, 'text' | 'sha'>, changes: Record<string, string>, fenced: Record<string, boolean> = {}): string {
    const key = `${base.sha}|${Object.entries(changes).sort().map(([k, v]) => `${k}=${v}`).join(',')}|${Object.entries(fenced).sort().map(([k, v]) => `${k}=${v}`).join(',')}`;
    let text = this.edits.get(key);
    if (text === undefined) {
      if (this.mode === 'haproxy') {
        text = setHaproxyServers(base.text, changes);
        if (Object.keys(fenced).length > 0) text = setHaproxyFenced(text, fenced);
      } else text = setServerAddresses(base.text, this.topo.proxy.name, changes);
      if (this.edits.size > 64) this.edits.clear();
      this.edits.set(key, text);
    }
    return text;
  }

  /** Serialises `fn` after every earlier apply in this process. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => {});
    return run;
  }

  /**
   * Runs `fn` as an apply would: after every earlier apply of this process, under the lock shared with
   * `notify` and reshards. For starting a process the mode needs (HAProxy, nutcracker) without racing an apply.
   */
  exclusive<T>(fn: () => Promise<T>, lockTimeoutMs = 3000): Promise<T> {
    return this.serial(async () => {
      const lock = await ApplyLock.acquire(join(agentPaths(this.topo.proxyDir).dir, 'apply.lock'), lockTimeoutMs);
      try {
        return await fn();
      } finally {
        lock.release();
      }
    });
  }

  /** Waits for the apply in flight (used on shutdown so nutcracker is never left stopped mid-restart). */
  idle(): Promise<void> {
    return this.chain.then(() => {});
  }

  /**
   * Writes `text` (unless the file already holds it) and makes it take effect. `force` activates even when the
   * file is unchanged (a supervised nutcracker running an older config, or an exec command that failed).
   */
  apply(input: ApplyInput, opts: { force?: boolean; lockTimeoutMs?: number } = {}): Promise<ApplyResult> {
    return this.serial(async () => {
      const t0 = performance.now();
      let lock: ApplyLock;
      try {
        lock = await ApplyLock.acquire(join(agentPaths(this.topo.proxyDir).dir, 'apply.lock'), opts.lockTimeoutMs ?? 3000);
      } catch (e) {
        return { ok: false, stage: 'lock', error: e as Error };
      }
      try {
        let text: string | null;
        try {
          text = typeof input === 'string' ? input : await input(await this.readBase());
        } catch (e) {
          return { ok: false, stage: 'edit', error: e as Error };
        }
        if (text === null) {
          const now = performance.now();
          return { ok: true, changed: false, path: this.targetPath(), writtenAtMs: now, servingAtMs: null, restart: null, steps: { lockMs: 0, checkMs: 0, writeMs: 0 } };
        }
        return await this.applyLocked(text, opts.force ?? false, t0);
      } finally {
        lock.release();
      }
    });
  }

  private async applyLocked(text: string, force: boolean, t0: number): Promise<ApplyResult> {
    const tLocked = performance.now();
    let tChecked = tLocked;
    const path = this.targetPath();
    let before: string | null = null;
    try {
      before = readFileSync(path, 'utf8');
    } catch {
      before = null;
    }
    // In mode haproxy the file may hold the right addresses while HAProxy does not (it switched nothing yet,
    // or it was restarted): what counts is its live state, so the activation always runs.
    const live = this.mode === 'haproxy' ? await this.liveBackends() : null;
    const serversWanted = this.mode === 'haproxy' ? this.serversOf(text) : {};
    const fencedWanted = this.mode === 'haproxy' ? readHaproxyFenced(text) : [];
    const liveDiffers = live !== null && Object.entries(serversWanted).some(([k, v]) => live[k]?.addr !== v || live[k].maint !== fencedWanted.includes(k));
    if (this.mode === 'haproxy') force ||= liveDiffers;
    const changed = before !== text || liveDiffers;
    const steps = () => ({ lockMs: ms(tLocked - t0), checkMs: ms(tChecked - tLocked), writeMs: ms(writtenAtMs - tChecked) });
    let writtenAtMs = performance.now();
    if (!changed && !force) return { ok: true, changed: false, path, writtenAtMs, servingAtMs: null, restart: null, steps: steps() };
    if (before !== text) {
      let check: CheckResult;
      try {
        // Mode haproxy: the file only matters to a restarted HAProxy (checked then, startHaproxy), and the
        // agent's edits change server addresses only; `haproxy -c` (~250 ms here) stays off the switch's path.
        check = this.mode === 'haproxy' ? haproxyAddressesOk(text) : await this.check(text);
      } catch (e) {
        return { ok: false, stage: 'check', error: e as Error };
      }
      if (!check.ok) return { ok: false, stage: 'check', error: new InvalidInputError(`the new config fails nutcracker -t: ${check.error}; the old one is kept`) };
      tChecked = performance.now();
      try {
        // Mode haproxy runs no `haproxy -c` here: only a result readBase already has counts.
        const beforeRejected =
          before !== null && (this.mode === 'haproxy' ? this.checks.knownRejected(before) : !(await this.usable(before)).ok);
        if (beforeRejected && before !== null) {
          // A hand edit nutcracker rejects is replaced, but kept beside it for whoever made it.
          atomicWriteFile(`${path}.rejected`, before, { mode: 0o600 });
        }
        atomicWriteFile(path, text, { mode: this.password !== null || this.mode === 'haproxy' ? 0o600 : 0o644 });
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        return { ok: false, stage: 'write', error: new EnvironmentError(`cannot write ${path}: ${err.code ?? err.message}; the old config is kept`, { cause: e }) };
      }
      const servers = this.serversOf(text);
      this.lastGood = { text, sha: sha256(text), servers, fenced: this.fencedOf(text, servers) };
    }
    writtenAtMs = performance.now();
    try {
      if (this.mode === 'haproxy') {
        await this.switchHaproxy(serversWanted, fencedWanted);
        return { ok: true, changed, path, writtenAtMs, servingAtMs: performance.now(), restart: null, steps: steps() };
      }
      const restart = await this.activation.activate(path, sha256(text));
      if (this.mode === 'supervise') this.noteServing(text);
      return { ok: true, changed, path, writtenAtMs, servingAtMs: restart ? performance.now() : null, restart, steps: steps() };
    } catch (e) {
      const error = this.mode === 'supervise' ? await this.backToServed(path, text, e as Error) : (e as Error);
      return { ok: false, stage: 'activate', error };
    }
  }

  /** exec mode: the file has not taken effect yet (activation.ts). */
  needsActivation(base: Pick<BaseConfig, 'sha' | 'problem'>): boolean {
    return this.activation.needed(base);
  }

  /** supervise mode: the supervised nutcracker runs `text` (it is the config to go back to if a new one fails). */
  noteServing(text: string): void {
    if (this.served?.text !== text) this.served = { text, sha: sha256(text) };
  }

  /**
   * supervise mode: nutcracker did not start on `text` (it passed nutcracker -t, but e.g. its listen address is
   * taken). The config it served before goes back in place and is started again, `text` is kept as `.rejected`,
   * and `text` counts as rejected for as long as a failed check does, so a retry does not stop the proxy again
   * every few seconds. Returns the error to report.
   */
  private async backToServed(path: string, text: string, failed: Error): Promise<Error> {
    const prev = this.served;
    if (prev === null || prev.text === text || this.proxy === null) return failed;
    // Never back to a config that fences less (agent/fence.ts): a fence is applied while the majority is missing,
    // and putting the unfenced config back would have the proxy acknowledge writes the majority's failover will
    // discard. The fenced file stays; a stopped nutcracker refuses too, and is started again on it (proxy-upkeep.ts).
    const fencedNow = this.fencedOf(text, this.serversOf(text));
    const fencedBefore = this.fencedOf(prev.text, this.serversOf(prev.text));
    if (fencedNow.some((shard) => !fencedBefore.includes(shard))) {
      return new EnvironmentError(`nutcracker did not start on the config that fences ${fencedNow.join(', ')} (${failed.message}); that config stays in ${path}, not the unfenced one`, { cause: failed });
    }
    this.checks.reject(text, `nutcracker does not start on it: ${failed.message}`);
    try {
      atomicWriteFile(`${path}.rejected`, text, { mode: 0o600 });
      atomicWriteFile(path, prev.text, { mode: this.password !== null ? 0o600 : 0o644 });
      const servers = this.serversOf(prev.text);
      this.lastGood = { text: prev.text, sha: prev.sha, servers, fenced: this.fencedOf(prev.text, servers) };
      const r = await this.activation.activate(path, prev.sha);
      return new EnvironmentError(
        `nutcracker did not start on the new config (${failed.message}); the previous config is back in ${path} and serving (pid ${r?.pid ?? '?'}); the rejected one is ${path}.rejected`,
        { cause: failed },
      );
    } catch (e) {
      return new EnvironmentError(`nutcracker did not start on the new config (${failed.message}), nor on the previous one (${(e as Error).message})`, { cause: failed });
    }
  }

  /**
   * Mode haproxy: points every shard's backend where the file now says, and in or out of maintenance (fenced) as
   * it says, each verified by reading it back. Shards already there are not touched (their sessions stay open).
   * A fence goes on before anything else of its shard changes, and comes off only after the address is the
   * new one: no connection is ever made to an address the file does not hold unfenced.
   */
  private async switchHaproxy(wanted: Record<string, string>, fenced: string[]): Promise<void> {
    const live = await this.liveBackends();
    if (live === null) throw new TransientError(`haproxy does not answer on ${haproxyPaths(this.topo.proxyDir).socket}; the file holds the new masters, so a restarted haproxy starts on them`);
    for (const [shard, addr] of Object.entries(wanted)) {
      const fence = fenced.includes(shard);
      if (fence && !live[shard]?.maint) await fenceShard(this.topo, shard);
      if (live[shard]?.addr !== addr) await switchBackend(this.topo, shard, addr);
      if (!fence && live[shard]?.maint) await unfenceShard(this.topo, shard);
    }
  }
}

/** Every backend server of a haproxy.cfg has a host:port address. */
function haproxyAddressesOk(text: string): CheckResult {
  const servers = readHaproxyServers(text);
  if (Object.keys(servers).length === 0) return { ok: false, error: 'no backend server lines' };
  for (const [shard, addr] of Object.entries(servers)) {
    const a = parseAddress(addr);
    if (typeof a === 'string') return { ok: false, error: `server ${shard}: ${a}` };
  }
  return { ok: true };
}

function ms(v: number): number {
  return Math.round(v * 10) / 10;
}

/**
 * atomicWriteFile's temp files are `.<name>.<pid>.<ms>.tmp` beside the target; a writer killed mid-write
 * leaves one behind (never the target half-written). Those of dead processes are removed.
 */
function removeStaleTemps(target: string): void {
  const dir = dirname(target);
  const prefix = `.${basename(target)}.`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const m = n.startsWith(prefix) && n.endsWith('.tmp') ? /^\.(\d+)\.\d+\.tmp$/.exec(n.slice(prefix.length - 1)) : null;
    if (m && !isAlive(Number(m[1]))) rmSync(join(dir, n), { force: true });
  }
}
