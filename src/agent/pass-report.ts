import type { ApplyMode } from '../topology/index.js';
import type { Analysis } from './analyze.js';
import type { ApplyResult, BaseConfig } from './apply.js';
import type { EventSink } from './events.js';
import type { FencePass } from './fence-pass.js';
import type { PassScheduler } from './scheduler.js';
import type { FailoverTimelines } from './timeline.js';

export type ApplyPath = 'majority' | 'fast' | 'supervise' | 'activate';

export interface PassReportDeps {
  mode: ApplyMode;
  events: EventSink;
  timelines: FailoverTimelines;
  fence: FencePass;
  /** Holds failed applies back (its retry policy) and releases them on success. */
  scheduler: Pick<PassScheduler, 'failed' | 'succeeded'>;
}

/**
 * What the passes tell the operator: a state is logged when it starts and when it clears, not on every pass
 * (a hold, a config problem); every apply, and every failed one with when it is retried.
 */
export class PassReport {
  private readonly lastHold = new Map<string, string>();
  private lastProblem: string | null = null;

  constructor(private readonly d: PassReportDeps) {}

  /** The config file the pass read is unusable (or usable again). */
  configRead(base: BaseConfig): void {
    if (base.problem === this.lastProblem) return;
    if (base.problem) {
      this.d.events.emit('config-invalid', { path: base.path, error: base.problem });
      this.d.events.human(`proxy config problem: ${base.problem}`);
    } else if (this.lastProblem) {
      this.d.events.emit('config-valid', { path: base.path });
    }
    this.lastProblem = base.problem;
  }

  /** Logs a shard's hold once when it starts (or its reason changes), and once when it clears. */
  analysed(a: Analysis): void {
    for (const d of a.decisions) {
      const key = d.action === 'hold' ? `${d.reason}` : '';
      const prev = this.lastHold.get(d.shard) ?? '';
      if (key === prev) continue;
      this.lastHold.set(d.shard, key);
      if (d.action === 'hold') {
        this.d.events.emit('reconcile-hold', { shard: d.shard, reason: d.reason, detail: d.detail });
        if (d.reason === 'no-majority' || d.reason === 'not-an-instance' || d.reason === 'target-not-master' || d.reason === 'epoch-conflict') {
          this.d.events.human(`shard ${d.shard}: not changing the proxy: ${d.detail}`);
        }
      } else if (prev !== '') {
        this.d.events.emit('reconcile-clear', { shard: d.shard, was: prev });
      }
    }
  }

  /** An apply's outcome; `before` is where each shard's traffic went before it. */
  applied(r: ApplyResult, switches: Record<string, string>, path: ApplyPath, before: Record<string, string>): void {
    if (!r.ok) return this.applyFailed(r.stage, r.error, switches);
    const ended = this.d.scheduler.succeeded();
    if (ended) {
      this.d.events.emit('apply-recovered', { failures: ended.failures, sinceMs: ended.sinceMs });
      this.d.events.human(`apply works again, after ${ended.failures} failed attempts over ${Math.round(ended.sinceMs / 1000)} s`);
    }
    const changes = Object.entries(switches).map(([shard, to]) => ({ shard, from: before[shard] ?? null, to }));
    this.d.events.emit('config-applied', {
      path,
      file: r.path,
      mode: this.d.mode,
      changed: r.changed,
      changes,
      restart: r.restart,
      steps: r.steps,
    });
    for (const c of changes) this.d.timelines.applied(c.shard, c.to, r.writtenAtMs, r.servingAtMs, path);
    this.d.fence.applied(changes, path);
    if (changes.length > 0) this.d.events.human(`proxy now sends ${changes.map((c) => `${c.shard} to ${c.to}`).join(', ')} (${path} path)`);
  }

  /**
   * Reported once: the first failure of a streak (or of another change), with when it is retried; the retries
   * that fail the same way are counted, not logged, until it works again ("apply-recovered").
   */
  applyFailed(stage: string, error: Error, switches: Record<string, string>): void {
    const f = this.d.scheduler.failed(error, JSON.stringify(switches));
    if (!f.report) return;
    this.d.events.emit('apply-failed', { stage, error: error.message, switches, attempt: f.attempt, retryInMs: f.delayMs });
    this.d.events.human(`apply failed (${stage}): ${error.message}; retrying in ${f.delayMs} ms and on a backoff after that (logged again when it works or something else fails)`);
  }
}
