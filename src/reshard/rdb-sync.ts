import { connect } from 'node:net';
import { once } from 'node:events';
import { encodeCommand } from '../engine/index.js';
import { mustParseAddress } from '../topology/index.js';
import { RdbReader, RdbUnsupported, type RdbEntry } from './rdb-reader.js';

/**
 * A point-in-time snapshot of one instance, as a replica's full sync gets it, read key by key. REPLCONF rdb-only
 * (Redis 7.0) makes the instance send the RDB and close: no replication stream follows, and the connection is
 * not counted as a replica. With `capa eof` the RDB is streamed as the fork writes it (diskless sync), so the copy
 * runs while it is being written. The instance forks for it: the copy costs the source a fork, not a command per
 * key.
 *
 * `each` is called for every key, synchronously while its bytes are in hand; `afterChunk` after each chunk read
 * (awaiting it pauses the reading: the way the caller keeps its destinations from falling behind).
 */
export async function readSnapshot(
  addr: string,
  password: string | null,
  timeoutMs: number,
  each: (e: RdbEntry, version: number) => void,
  afterChunk: () => Promise<void>,
): Promise<{ bytes: number }> {
  const { host, port } = mustParseAddress(addr);
  // Read into one buffer of our own (onread), not a new Buffer per chunk: tens of MB a second of short-lived
  // buffers keep V8's garbage collector threads busy on a machine whose cores the copy needs.
  let onData: (data: Buffer) => void = () => {};
  const inBuf = Buffer.allocUnsafe(256 * 1024);
  const sock = connect({ host, port, onread: { buffer: inBuf, callback: (n) => (onData(inBuf.subarray(0, n)), true) } });
  sock.setTimeout(timeoutMs, () => sock.destroy(new Error(`${addr}: no snapshot bytes for ${timeoutMs} ms`)));
  try {
    await once(sock, 'connect');
    // capa eof: without it Redis writes the RDB to disk first and sends it when done (no overlap with our copy).
    const setup = [...(password !== null ? [['AUTH', password]] : []), ['REPLCONF', 'capa', 'eof'], ['REPLCONF', 'rdb-only', '1']];
    // SYNC only after the other replies are read: Redis refuses it while a reply to the client is still pending.
    sock.write(setup.map(encodeCommand).join(''));
    let replies = setup.length;
    let inRdb = false;
    let head: Buffer = Buffer.alloc(0);
    let bytes = 0;
    const reader = new RdbReader();
    const onEntry = (e: RdbEntry) => each(e, reader.version);
    return await new Promise<{ bytes: number }>((resolve, reject) => {
      let settled = false;
      const finish = (e: Error | null) => {
        if (settled) return;
        settled = true;
        if (e) reject(e);
        else afterChunk().then(() => resolve({ bytes }), reject);
      };
      onData = (chunk: Buffer) => {
        if (settled) return;
        try {
          let data = chunk;
          if (!inRdb) {
            data = head.length > 0 ? Buffer.concat([head, chunk]) : chunk;
            head = Buffer.alloc(0);
            // The replies to AUTH and REPLCONF, then (after keep-alive newlines while the fork starts) "$<len>" or "$EOF:<mark>".
            for (;;) {
              let from = 0;
              while (replies === 0 && from < data.length && data[from] === 10) from++;
              const eol = data.indexOf('\r\n', from);
              if (eol < 0) {
                head = Buffer.from(data.subarray(from));
                return;
              }
              const line = data.toString('latin1', from, eol);
              data = data.subarray(eol + 2);
              if (line.startsWith('-')) {
                throw new RdbUnsupported(`${addr} refused a snapshot (${replies > 0 ? setup[setup.length - replies]![0] : 'SYNC'}): ${line.slice(1)}`);
              }
              if (replies > 0) {
                if (--replies === 0) sock.write('SYNC\r\n');
                continue;
              }
              if (!line.startsWith('$')) throw new Error(`${addr}: unexpected reply to SYNC: ${line.slice(0, 80)}`);
              inRdb = true;
              break;
            }
          }
          bytes += data.length;
          reader.push(data, onEntry);
          if (reader.done) return finish(null);
          // The next chunk waits for the caller (its destinations catching up).
          sock.pause();
          afterChunk().then(() => {
            if (!settled) sock.resume();
          }, (e: unknown) => finish(e as Error));
        } catch (e) {
          finish(e as Error);
        }
      };
      sock.on('error', (e) => finish(e));
      sock.on('close', () => {
        if (settled) return;
        try {
          if (!reader.done && inRdb) reader.push(Buffer.alloc(0), onEntry, true);
          if (!reader.done) throw new Error(`${addr}: the snapshot ended after ${bytes} bytes, before the end of the RDB`);
          finish(null);
        } catch (e) {
          finish(e as Error);
        }
      });
    });
  } finally {
    sock.destroy();
  }
}
