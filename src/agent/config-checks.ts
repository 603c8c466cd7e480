import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ringDifferences, sameRingYml } from '../render/index.js';
import { checkHaproxyConf, checkNutcrackerConf, expectedRings } from '../runtime/index.js';
import { sha256 } from '../sha256.js';
import { agentPaths, type Topology } from '../topology/index.js';

export type CheckResult = { ok: true } | { ok: false; error: string };

/**
 * Whether a config text may be applied, remembered by its sha256 (every pass asks it of an unchanged file, and a
 * failover must not wait for `nutcracker -t` on a text checked already): `nutcracker -t` (`haproxy -c` in mode
 * haproxy), the ring the description (or the reshard in progress) expects, and texts nutcracker would not start on.
 */
export class ConfigChecks {
  private readonly checks = new Map<string, CheckResult>();
  private readonly ringChecks = new Map<string, string[]>();
  private readonly checking = new Map<string, Promise<CheckResult>>();
  private checkSeq = 0;
  private readonly rejectedAt = new Map<string, number>();

  constructor(private readonly topo: Topology) {}

  private get haproxyMode(): boolean {
    return this.topo.agent.apply === 'haproxy';
  }

  /** Whether this text is known to be rejected (without checking it now). */
  knownRejected(text: string): boolean {
    return this.checks.get(sha256(text))?.ok === false;
  }

  /** Remembers `text` as rejected for as long as a failed check is (nutcracker did not start on it). */
  reject(text: string, error: string): void {
    const sha = sha256(text);
    this.checks.set(sha, { ok: false, error });
    this.rejectedAt.set(sha, Date.now());
  }

  /** nutcracker -t on exactly this text, cached: a config checked once is not checked again. */
  async check(text: string): Promise<{ ok: true } | { ok: false; error: string }> {
    const sha = sha256(text);
    const cached = this.checks.get(sha);
    // A rejection is remembered for 30 s only: if it was the check itself that failed (a timeout on a loaded
    // machine), a failover that needs this text must not stay blocked for good.
    if (cached && (cached.ok || Date.now() - (this.rejectedAt.get(sha) ?? 0) < 30_000)) return cached;
    // The fast path and a reconcile may check the same text at once: they share one run. (Two runs on one temp
    // name raced: the first to finish removed the file the other's nutcracker -t was reading, and that
    // "syntax is invalid" was cached, so every retry of that failover failed the same way.)
    const running = this.checking.get(sha);
    if (running) return running;
    const run = (async () => {
      const dir = agentPaths(this.topo.proxyDir).dir;
      mkdirSync(dir, { recursive: true });
      const tmp = join(dir, `.check-${process.pid}-${sha.slice(0, 12)}-${++this.checkSeq}.yml`);
      try {
        const fd = openSync(tmp, 'w', 0o600);
        writeSync(fd, text);
        closeSync(fd);
        const r = this.haproxyMode ? await checkHaproxyConf(tmp) : await checkNutcrackerConf(tmp);
        if (this.checks.size > 64) {
          this.checks.clear();
          this.rejectedAt.clear();
        }
        this.checks.set(sha, r);
        if (!r.ok) this.rejectedAt.set(sha, Date.now());
        return r;
      } finally {
        rmSync(tmp, { force: true });
      }
    })();
    this.checking.set(sha, run);
    try {
      return await run;
    } finally {
      this.checking.delete(sha);
    }
  }

  /**
   * Whether a config may be applied: `nutcracker -t` accepts it, and it places every key on the shard the
   * description does (render/ringDifferences). A hand edit that renames, drops or reweighs a shard, or changes
   * the hash, passes -t yet would serve keys from the wrong shard: it is treated like invalid YAML.
   */
  async usable(text: string): Promise<{ ok: true } | { ok: false; error: string }> {
    const check = await this.check(text);
    if (!check.ok) return { ok: false, error: `${this.haproxyMode ? 'haproxy' : 'nutcracker'} rejects it: ${check.error}` };
    // haproxy.cfg holds no ring: nutcracker.yml keeps it, and this mode never edits nutcracker.yml.
    if (this.haproxyMode) return { ok: true };
    // During a reshard the description already names the new ring while the proxy must serve the old one until
    // the cut (and the new one from it): the reshard records which, and that is the judge then.
    const during = expectedRings(this.topo.stateDir);
    const ring = during
      ? during.some((r) => sameRingYml(text, r, this.topo.proxy.name)) ? [] : ['it is not the ring of the reshard in progress (redis-shard status)']
      : this.ringDifferencesOf(text);
    return ring.length === 0 ? { ok: true } : { ok: false, error: `it changes which shard keys land on: ${ring.join('; ')}` };
  }

  /**
   * ringDifferences parses the whole file; the description does not change under a running agent, so the answer
   * for a given text is cached like nutcracker -t's (every apply asks it of the config it replaces).
   */
  private ringDifferencesOf(text: string): string[] {
    const sha = sha256(text);
    const cached = this.ringChecks.get(sha);
    if (cached) return cached;
    const r = ringDifferences(text, this.topo);
    if (this.ringChecks.size > 64) this.ringChecks.clear();
    this.ringChecks.set(sha, r);
    return r;
  }
}
