import type { Redis } from 'ioredis';
import { parseReplicationInfo } from '../engine/index.js';
import { withClient } from '../runtime/index.js';

/**
 * Which instance a source's snapshot is read from, and its settings for the time of the read.
 *
 * A replica, never the master: while a full sync is being sent the master lists the reader in INFO replication
 * (as a replica on port 0), and a sentinel that reads that INFO adds the address as a replica it then watches
 * for good. A replica's own sync clients are not looked at by the sentinels. The replica must be linked to the
 * current master and have applied everything the master had when the caller's keyspace subscription was in
 * place (`sinceOffset`): then every write is either in the snapshot or was seen as an event.
 */
export async function snapshotReplica(
  master: Redis,
  masterAddr: string,
  instances: string[],
  password: string | null,
  waitMs = 2000,
): Promise<string | null> {
  const info = parseReplicationInfo(String(await master.info('replication')));
  if (info === null || info.role !== 'master') return null;
  const sinceOffset = info.offset;
  for (const addr of instances) {
    if (addr === masterAddr) continue;
    const ok = await withClient(addr, password, async (c) => {
      const deadline = Date.now() + waitMs;
      for (;;) {
        const r = parseReplicationInfo(String(await c.info('replication')));
        if (r === null || r.role !== 'replica' || r.masterAddr !== masterAddr || !r.linkUp || r.syncing) return false;
        if (r.offset >= sinceOffset) return true;
        if (Date.now() > deadline) return false;
        await new Promise((res) => setTimeout(res, 10));
      }
    }, { timeoutMs: 1000 }).catch(() => false);
    if (ok) return addr;
  }
  return null;
}

/**
 * Runs `fn` with the replica set up for one fast snapshot, then puts its settings back:
 * - `repl-diskless-sync-delay 0`: its default, 5 s, waits for more replicas to share the fork;
 * - `rdbcompression no`: LZF is most of the fork's CPU per key, and the destination master and each of its
 *   replicas would spend as much again expanding every compressed value of a RESTORE. The bytes cross a local
 *   link once; the CPU would be spent on every instance.
 * A crash in between leaves them so: replicas of this replica would start their full syncs without waiting for
 * each other, and its own RDB files would be written uncompressed; nothing else.
 */
export async function withSnapshotSettings<T>(addr: string, password: string | null, fn: () => Promise<T>): Promise<T> {
  const wanted: Record<string, string> = { 'repl-diskless-sync-delay': '0', rdbcompression: 'no' };
  const before = await withClient(addr, password, async (c) => {
    const was: Record<string, string> = {};
    for (const [k, v] of Object.entries(wanted)) {
      const [, now] = (await c.config('GET', k)) as string[];
      if (now !== undefined && now !== v) {
        await c.config('SET', k, v);
        was[k] = now;
      }
    }
    return was;
  }, { timeoutMs: 2000 });
  try {
    return await fn();
  } finally {
    if (Object.keys(before).length > 0) {
      await withClient(addr, password, async (c) => {
        for (const [k, v] of Object.entries(before)) await c.config('SET', k, v);
      }, { timeoutMs: 2000 }).catch(() => {});
    }
  }
}
