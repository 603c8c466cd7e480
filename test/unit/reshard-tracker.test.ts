import type { Server, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DirtyTracker } from '../../src/reshard/tracker.js';
import { bulk, respServer } from '../support/fake-sentinel.js';

// Ports of this file: 31720-31722.
const pmessage = (key: Buffer): Buffer =>
  Buffer.concat([Buffer.from(`*4\r\n${bulk('pmessage')}${bulk('__keyspace@0__:*')}$${15 + key.length}\r\n__keyspace@0__:`), key, Buffer.from(`\r\n${bulk('set')}`)]);

/** Writes `data` one byte per write, so every reply is cut at every place. */
async function dribble(sock: Socket, data: Buffer): Promise<void> {
  for (const byte of data) await new Promise<void>((r) => sock.write(Buffer.from([byte]), () => r()));
}

describe('DirtyTracker (raw keyspace subscription)', () => {
  let server: Server | null = null;
  afterEach(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = null;
  });

  it('keeps only the keys that leave, whatever the chunking (binary keys too); barrier waits for earlier events', async () => {
    const seen: string[][] = [];
    const keys = [Buffer.from('go:1'), Buffer.from('stay:1'), Buffer.from([0x67, 0x6f, 0x3a, 0x0d, 0x0a, 0x24, 0x00]), Buffer.from('go:2')];
    server = await respServer(31720, (cmd, sock) => {
      seen.push(cmd);
      if (cmd[0] === 'AUTH') sock.write('+OK\r\n');
      if (cmd[0] === 'PSUBSCRIBE') sock.write(`*3\r\n${bulk('psubscribe')}${bulk(cmd[1]!)}:1\r\n`);
      // The events, cut byte by byte, then the pong: the pong must not resolve before the last event is read.
      if (cmd[0] === 'PING') void dribble(sock, Buffer.concat([...keys.map(pmessage), Buffer.from(`*2\r\n${bulk('pong')}${bulk('')}`)]));
    });
    const t = new DirtyTracker('s1', '127.0.0.1:31720', 'pw', 0, (k) => k.subarray(0, 3).toString('latin1') === 'go:');
    await t.start();
    await t.barrier();
    expect(seen.map((c) => c[0])).toEqual(['AUTH', 'PSUBSCRIBE', 'PING']);
    expect(seen[1]).toEqual(['PSUBSCRIBE', '__keyspace@0__:*']);
    expect(t.take().map((k) => k.toString('hex')).sort()).toEqual([keys[0]!, keys[2]!, keys[3]!].map((k) => k.toString('hex')).sort());
    expect(t.lost).toBe(false);
    t.close();
  });

  it('a refused AUTH fails start with the server\'s words; a closed connection sets lost and fails a barrier', async () => {
    server = await respServer(31721, (cmd, sock) => {
      if (cmd[0] === 'AUTH') sock.write('-WRONGPASS invalid username-password pair or user is disabled.\r\n');
      if (cmd[0] === 'PSUBSCRIBE') sock.write('-NOAUTH Authentication required.\r\n');
    });
    const bad = new DirtyTracker('s1', '127.0.0.1:31721', 'nope', 0, () => true);
    await expect(bad.start()).rejects.toThrow('127.0.0.1:31721: WRONGPASS invalid username-password pair');

    let client: Socket | null = null;
    const other = await respServer(31722, (cmd, sock) => {
      client = sock;
      if (cmd[0] === 'PSUBSCRIBE') sock.write(`*3\r\n${bulk('psubscribe')}${bulk(cmd[1]!)}:1\r\n`);
    });
    try {
      const t = new DirtyTracker('s2', '127.0.0.1:31722', null, 3, () => true);
      await t.start();
      const barrier = t.barrier();
      client!.destroy();
      await expect(barrier).rejects.toThrow('the keyspace subscription closed');
      expect(t.lost).toBe(true);
      t.close();

      // A reply it cannot read (a RESP3 push here) loses the subscription instead of throwing out of the socket.
      const u = new DirtyTracker('s2', '127.0.0.1:31722', null, 3, () => true);
      await u.start();
      const pending = u.barrier();
      client!.write('>2\r\n$4\r\npong\r\n$0\r\n\r\n');
      await expect(pending).rejects.toThrow('unexpected reply on the keyspace subscription');
      expect(u.lost).toBe(true);
      u.close();
    } finally {
      await new Promise<void>((r) => other.close(() => r()));
    }
  });
});
