/**
 * Parsing INFO replication. Pure, so the status analysis can be unit-tested with plain text.
 */
import { formatAddress } from '../topology/index.js';

export interface ReplicaOfMaster {
  /** ip:port as the master sees the replica (its announced listening port). */
  addr: string;
  state: string;
  offset: number;
  /** Seconds since the replica's last ack. */
  lag: number;
}

export type ReplicationInfo =
  | { role: 'master'; offset: number; replicas: ReplicaOfMaster[] }
  | {
      role: 'replica';
      masterAddr: string;
      /** master_link_status: the replication link is established. */
      linkUp: boolean;
      /** A full sync is running. */
      syncing: boolean;
      /** Seconds since the replica last heard from its master (-1 when never). */
      lastIoSeconds: number | null;
      offset: number;
    };

export function parseInfoFields(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** INFO replication of one instance; null when the text is not what Redis sends. */
export function parseReplicationInfo(text: string): ReplicationInfo | null {
  const f = parseInfoFields(text);
  if (f.role === 'master') {
    const replicas: ReplicaOfMaster[] = [];
    for (const [k, v] of Object.entries(f)) {
      if (!/^slave[0-9]+$/.test(k)) continue;
      const kv = Object.fromEntries(v.split(',').map((p) => p.split('=') as [string, string]));
      const port = Number(kv.port);
      if (!kv.ip || !Number.isInteger(port)) continue;
      replicas.push({
        addr: formatAddress({ host: kv.ip, port }),
        state: kv.state ?? '?',
        offset: Number(kv.offset ?? 0),
        lag: Number(kv.lag ?? 0),
      });
    }
    return { role: 'master', offset: Number(f.master_repl_offset ?? 0), replicas };
  }
  if (f.role === 'slave') {
    const port = Number(f.master_port);
    if (!f.master_host || !Number.isInteger(port)) return null;
    const io = f.master_last_io_seconds_ago !== undefined ? Number(f.master_last_io_seconds_ago) : null;
    return {
      role: 'replica',
      masterAddr: formatAddress({ host: f.master_host, port }),
      linkUp: f.master_link_status === 'up',
      syncing: f.master_sync_in_progress === '1',
      lastIoSeconds: io,
      offset: Number(f.slave_repl_offset ?? 0),
    };
  }
  return null;
}
