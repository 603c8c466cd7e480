import type { ShardDecision } from './analyze.js';

export interface FastSwitch {
  from: string;
  to: string;
  seq: number;
}

/**
 * Early switches (fast path) not yet confirmed by the sentinels' majority. While one is pending, analyze() does
 * not let a majority that still names the old master take the shard back. Each is tied to the config it wrote
 * by a sequence number: a pass notes `seq` before it reads the config, and only a pass that read the config
 * after the switch may settle it (a pass that read it before would see the old address and clear it wrongly).
 */
export class FastSwitchGuard {
  private readonly pending = new Map<string, FastSwitch>();
  private last = 0;

  /** Taken by a pass before it reads the config. */
  get seq(): number {
    return this.last;
  }

  get(shard: string): FastSwitch | undefined {
    return this.pending.get(shard);
  }

  /** The fast path moved `shard` from `from` to `to` (the apply changed the config). */
  switched(shard: string, from: string, to: string): void {
    this.pending.set(shard, { from, to, seq: ++this.last });
  }

  /**
   * After a pass that read the config at `seenSeq`, with the proxy on `servers`: a switch stays pending only
   * while the majority path still holds with the proxy on it; once the majority agrees (none) or overrides it
   * (switch), or someone moved the proxy, it is settled.
   */
  settle(decisions: ShardDecision[], servers: Record<string, string>, seenSeq: number): void {
    for (const d of decisions) {
      const fs = this.pending.get(d.shard);
      if (fs && fs.seq <= seenSeq && (d.action !== 'hold' || servers[d.shard] !== fs.to)) this.pending.delete(d.shard);
    }
  }
}
