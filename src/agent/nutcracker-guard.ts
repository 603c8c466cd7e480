import { readFileSync } from 'node:fs';
import { nutcrackerTargets, readPoolServers, renderNutcrackerYml, ringDifferences, sameRingYml } from '../render/index.js';
import { atomicWriteFile, checkNutcrackerConf, expectedRings } from '../runtime/index.js';
import { proxyPaths, type Topology } from '../topology/index.js';

/**
 * Apply mode haproxy never edits nutcracker.yml, but it does restart a nutcracker that died, and must not
 * start it on a file that would serve keys from the wrong shard or bypass HAProxy: one that nutcracker
 * rejects, that changes the ring (render/ringDifferences), or whose servers are not the shards' frontends.
 * Such a file is kept beside as `.rejected` and the last good one (or one rendered from the description)
 * goes back in its place, as the other modes do with the file they edit.
 */
export class NutcrackerFileGuard {
  private lastGood: string | null = null;
  private primed = false;

  constructor(
    private readonly topo: Topology,
    private readonly password: string | null,
  ) {}

  private get path(): string {
    return proxyPaths(this.topo.proxyDir).conf;
  }

  /** Why `text` must not be started on, or null. */
  async problem(text: string): Promise<string | null> {
    const check = await checkNutcrackerConf(this.path);
    if (!check.ok) return `nutcracker rejects it: ${check.error}`;
    // During a reshard the ring the reshard recorded is the judge (the old one until the cut, the new one from it),
    // and the shards it adds or removes are not (or no longer) in the description this agent read.
    const during = expectedRings(this.topo.stateDir);
    if (during) {
      if (!during.some((r) => sameRingYml(text, r, this.topo.proxy.name))) return 'it is not the ring of the reshard in progress (redis-shard status)';
    } else {
      const ring = ringDifferences(text, this.topo);
      if (ring.length > 0) return `it changes which shard keys land on: ${ring.join('; ')}`;
    }
    const servers = Object.fromEntries(readPoolServers(text, this.topo.proxy.name).map((s) => [s.name, s.addr]));
    const off = Object.entries(this.topo.haproxyFrontends).filter(([shard, fe]) => servers[shard] !== fe && (during === null || servers[shard] !== undefined));
    if (off.length > 0) return `it sends ${off.map(([s]) => `${s} to ${servers[s] ?? 'nothing'}`).join(', ')} instead of HAProxy's frontends`;
    return null;
  }

  /** Remembers the file as the last good one when it is (once, at the agent's first pass). */
  async prime(): Promise<void> {
    if (this.primed) return;
    this.primed = true;
    try {
      const text = readFileSync(this.path, 'utf8');
      if ((await this.problem(text)) === null) this.lastGood = text;
    } catch {
      /* checked again before any start */
    }
  }

  /** nutcracker started on `text`: the file to go back to if a later one does not start. */
  started(text: string): void {
    this.lastGood = text;
  }

  /**
   * nutcracker did not start on the file: the last file it started on goes back in place (when it differs and
   * still passes every check above), the other is kept as `.rejected`. Returns the restored text, or null.
   */
  async backToLastGood(): Promise<string | null> {
    const good = this.lastGood;
    let text: string | null = null;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      /* gone: the last good one goes back all the same */
    }
    if (good === null || text === good) return null;
    const mode = this.password !== null ? 0o600 : 0o644;
    atomicWriteFile(this.path, good, { mode });
    // problem() checks the file itself: a reshard since may have made the old file wrong; then the file stays.
    if ((await this.problem(good)) !== null) {
      if (text !== null) atomicWriteFile(this.path, text, { mode });
      return null;
    }
    if (text !== null) atomicWriteFile(`${this.path}.rejected`, text, { mode: 0o600 });
    return good;
  }

  /** Makes the file one nutcracker may start on; returns what was wrong with it, or null when nothing was. */
  async ensureUsable(): Promise<string | null> {
    let text: string | null = null;
    let why: string;
    try {
      text = readFileSync(this.path, 'utf8');
      const p = await this.problem(text);
      if (p === null) return null;
      why = p;
    } catch (e) {
      why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'the file does not exist' : (e as Error).message;
    }
    if (text !== null) atomicWriteFile(`${this.path}.rejected`, text, { mode: 0o600 });
    const restored = this.lastGood ?? renderNutcrackerYml(this.topo, nutcrackerTargets(this.topo, {}), this.password);
    atomicWriteFile(this.path, restored, { mode: this.password !== null ? 0o600 : 0o644 });
    return why;
  }
}
