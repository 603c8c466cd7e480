/**
 * The acknowledged-write checker (pure). Writers add unique increasing integers to one set per shard through
 * the proxy and record, per attempt, whether the proxy acknowledged it. After the split has healed and the stack
 * has converged, the sets are read back:
 *   acknowledged but missing       = lost (the guarantee a client relied on was broken);
 *   present but never acknowledged = indeterminate (an error or timeout whose write did land: allowed);
 *   present but never attempted    = impossible (a checker or harness bug; reported, never expected).
 * Unavailability: every run of failed attempts between two acknowledgements is one window, measured from the
 * acknowledgement before it to the one after it (what a client saw as "no writes got through").
 */

export interface Attempt {
  /** The element (unique per shard, increasing). */
  n: number;
  /** Wall-clock ms when the reply (or error) came. */
  t: number;
  /** null: acknowledged; otherwise the error's first word (NOREPLICAS, ECONNREFUSED, timeout, ...). */
  err: string | null;
}

export interface ShardWrites {
  shard: string;
  key: string;
  attempts: Attempt[];
}

export interface Window {
  fromMs: number;
  toMs: number;
  errors: number;
  kinds: Record<string, number>;
}

export interface ShardCheck {
  shard: string;
  acked: number;
  errored: number;
  lost: number;
  indeterminate: number;
  unexpected: number;
  /** The lost elements' acknowledgement times, for bounds (e.g. "all acked within N ms after the split"). */
  lostAckTimes: number[];
  windows: Window[];
  /** Longest window, ms (0 when none). */
  longestMs: number;
  /** Sum of windows, ms. */
  unavailableMs: number;
  errorKinds: Record<string, number>;
}

export interface CheckResult {
  shards: ShardCheck[];
  acked: number;
  lost: number;
  indeterminate: number;
  unexpected: number;
  lostPct: number;
}

export function checkWrites(writes: ShardWrites[], present: Record<string, number[]>): CheckResult {
  const shards = writes.map((w) => checkShard(w, present[w.shard] ?? []));
  const acked = sum(shards.map((s) => s.acked));
  const lost = sum(shards.map((s) => s.lost));
  return {
    shards,
    acked,
    lost,
    indeterminate: sum(shards.map((s) => s.indeterminate)),
    unexpected: sum(shards.map((s) => s.unexpected)),
    lostPct: acked === 0 ? 0 : Math.round((lost / acked) * 1000) / 10,
  };
}

function checkShard(w: ShardWrites, present: number[]): ShardCheck {
  const have = new Set(present);
  const attempted = new Set<number>();
  let acked = 0;
  let errored = 0;
  let lost = 0;
  let indeterminate = 0;
  const lostAckTimes: number[] = [];
  const errorKinds: Record<string, number> = {};
  for (const a of w.attempts) {
    attempted.add(a.n);
    if (a.err === null) {
      acked++;
      if (!have.has(a.n)) {
        lost++;
        lostAckTimes.push(a.t);
      }
    } else {
      errored++;
      errorKinds[a.err] = (errorKinds[a.err] ?? 0) + 1;
      if (have.has(a.n)) indeterminate++;
    }
  }
  const unexpected = present.filter((n) => !attempted.has(n)).length;
  const windows = unavailability(w.attempts);
  return {
    shard: w.shard,
    acked,
    errored,
    lost,
    indeterminate,
    unexpected,
    lostAckTimes,
    windows,
    longestMs: Math.max(0, ...windows.map((x) => x.toMs - x.fromMs)),
    unavailableMs: sum(windows.map((x) => x.toMs - x.fromMs)),
    errorKinds,
  };
}

/** Runs of errors between acknowledgements, in attempt order. A run still open at the end ends at its last error. */
export function unavailability(attempts: Attempt[]): Window[] {
  const out: Window[] = [];
  let lastOk: number | null = null;
  let open: Window | null = null;
  for (const a of [...attempts].sort((x, y) => x.n - y.n)) {
    if (a.err === null) {
      if (open) {
        open.toMs = a.t;
        out.push(open);
        open = null;
      }
      lastOk = a.t;
    } else {
      if (!open) open = { fromMs: lastOk ?? a.t, toMs: a.t, errors: 0, kinds: {} };
      open.errors++;
      open.kinds[a.err] = (open.kinds[a.err] ?? 0) + 1;
      open.toMs = a.t;
    }
  }
  if (open) out.push(open);
  return out;
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
