import { connect } from 'node:net';
import { mustParseAddress } from '../topology/index.js';

/** One reading of nutcracker's stats port: the counters we keep, per pool server (shard name). */
export interface NutcrackerReading {
  uptime: number;
  /** Connections accepted since nutcracker started (clients and stats). */
  totalConnections: number;
  /** Client connections open to the pool now. */
  clientConnections: number;
  clientErrors: number;
  forwardErrors: number;
  servers: Record<string, { requests: number; errors: number; timeouts: number; eof: number; serverConnections: number }>;
}

/**
 * Reads nutcracker's stats JSON (it writes one document and closes on connect). Bounded: a stats port that
 * accepts and never answers (a stopped nutcracker) costs at most `timeoutMs`.
 */
export function readNutcrackerStats(addr: string, pool: string, timeoutMs: number): Promise<NutcrackerReading> {
  const { host, port } = mustParseAddress(addr);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = connect({ host, port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(parseNutcrackerStats(Buffer.concat(chunks).toString('utf8'), pool));
      } catch (e) {
        reject(e);
      }
    });
  });
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** Pure: nutcracker 0.5.0's stats document -> the fields we keep (notes/twemproxy.md lists them). */
export function parseNutcrackerStats(text: string, pool: string): NutcrackerReading {
  const doc = JSON.parse(text) as Record<string, unknown>;
  const p = doc[pool];
  if (p === null || typeof p !== 'object') throw new Error(`nutcracker stats have no pool named ${pool}`);
  const poolObj = p as Record<string, unknown>;
  const servers: NutcrackerReading['servers'] = {};
  for (const [name, v] of Object.entries(poolObj)) {
    if (v === null || typeof v !== 'object') continue;
    const s = v as Record<string, unknown>;
    servers[name] = {
      requests: num(s.requests),
      errors: num(s.server_err),
      timeouts: num(s.server_timedout),
      eof: num(s.server_eof),
      serverConnections: num(s.server_connections),
    };
  }
  return {
    uptime: num(doc.uptime),
    totalConnections: num(doc.total_connections),
    clientConnections: num(poolObj.client_connections),
    clientErrors: num(poolObj.client_err),
    forwardErrors: num(poolObj.forward_error),
    servers,
  };
}

type CounterKey = 'requests' | 'errors' | 'timeouts' | 'eof';
const SERVER_COUNTERS: CounterKey[] = ['requests', 'errors', 'timeouts', 'eof'];

/** Totals that keep counting across nutcracker restarts. */
export interface NutcrackerTotals {
  servers: Record<string, Record<CounterKey, number>>;
  /** total_connections: accepted client connections plus nutcracker's own to servers. */
  connections: number;
  clientErrors: number;
  forwardErrors: number;
  /** nutcracker restarts seen between readings (its uptime went back or a counter fell). */
  restartsSeen: number;
}

/**
 * nutcracker's counters start from zero at every restart, and the agent restarts it at every failover. This
 * adds up the deltas between readings: when nutcracker restarted in between (uptime went back, or a counter
 * fell), the new reading counts in full. What the old process counted after our last reading is lost, so the
 * agent reads every second.
 */
export class NutcrackerAccumulator {
  private prev: NutcrackerReading | null = null;
  readonly totals: NutcrackerTotals = { servers: {}, connections: 0, clientErrors: 0, forwardErrors: 0, restartsSeen: 0 };
  /** Requests per second per server over the last interval. */
  rates: Record<string, number> = {};
  private prevAt = 0;

  add(r: NutcrackerReading, at: number): void {
    const p = this.prev;
    const restarted =
      p !== null &&
      (r.uptime < p.uptime ||
        r.totalConnections < p.totalConnections ||
        Object.entries(r.servers).some(([n, s]) => p.servers[n] !== undefined && SERVER_COUNTERS.some((k) => s[k] < p.servers[n]![k])));
    if (restarted) this.totals.restartsSeen++;
    const delta = (cur: number, before: number | undefined) => (p === null || restarted || before === undefined ? cur : cur - before);
    const rates: Record<string, number> = {};
    const dt = p !== null ? (at - this.prevAt) / 1000 : 0;
    for (const [name, s] of Object.entries(r.servers)) {
      const t = (this.totals.servers[name] ??= { requests: 0, errors: 0, timeouts: 0, eof: 0 });
      for (const k of SERVER_COUNTERS) t[k] += delta(s[k], p?.servers[name]?.[k]);
      if (dt > 0) rates[name] = delta(s.requests, p?.servers[name]?.requests) / dt;
    }
    this.totals.connections += delta(r.totalConnections, p?.totalConnections);
    this.totals.clientErrors += delta(r.clientErrors, p?.clientErrors);
    this.totals.forwardErrors += delta(r.forwardErrors, p?.forwardErrors);
    this.rates = rates;
    this.prev = r;
    this.prevAt = at;
  }

  get last(): NutcrackerReading | null {
    return this.prev;
  }
}
