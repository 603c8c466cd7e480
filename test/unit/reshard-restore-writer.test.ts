import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RdbUnsupported } from '../../src/reshard/rdb-reader.js';
import { RestoreWriter } from '../../src/reshard/restore-writer.js';

/** A server that, on each read, answers with the pieces `replies` returns for all it has read so far (one write each). */
function fakeRedis(replies: (received: Buffer) => string[] | null): Promise<{ server: Server; port: number; received: () => Buffer }> {
  let all = Buffer.alloc(0);
  return new Promise((resolve) => {
    const server = createServer((sock: Socket) => {
      sock.on('data', (d: Buffer) => {
        all = Buffer.concat([all, d]);
        const pieces = replies(all);
        if (pieces) for (const p of pieces) sock.write(p);
      });
    });
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port, received: () => all }));
  });
}

/** The complete RESP arrays of bulk strings in `buf`, as text (latin1). */
function commands(buf: Buffer): string[][] {
  const out: string[][] = [];
  let at = 0;
  const line = (): string | null => {
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0) return null;
    const l = buf.toString('latin1', at, eol);
    at = eol + 2;
    return l;
  };
  for (;;) {
    const head = line();
    if (head === null) return out;
    const args: string[] = [];
    for (let n = Number(head.slice(1)); n > 0; n--) {
      const len = line();
      if (len === null || at + Number(len.slice(1)) + 2 > buf.length) return out;
      args.push(buf.toString('latin1', at, at + Number(len.slice(1))));
      at += Number(len.slice(1)) + 2;
    }
    out.push(args);
  }
}

describe('RestoreWriter replies and commands', () => {
  let server: Server | null = null;
  /** A writer on a fake server that answers every complete command with `reply`. */
  const writerOnFake = async (reply: string) => {
    let answered = 0;
    const f = await fakeRedis((all) => {
      const n = commands(all).length;
      const out: string[] = [];
      for (; answered < n; answered++) out.push(reply);
      return out;
    });
    server = f.server;
    return { f, w: await RestoreWriter.open(`127.0.0.1:${f.port}`, null, 0, 2000) };
  };
  afterEach(() => {
    server?.close();
    server = null;
  });

  it('writes MSET, SET PXAT and RESTORE as valid RESP and counts replies split anywhere', async () => {
    let answered = 0;
    const f = await fakeRedis((all) => {
      // One reply per command seen so far, in pieces cut mid-line.
      const commands = all.toString('latin1').split(/\*[0-9]+\r\n/).length - 1;
      const out: string[] = [];
      for (; answered < commands; answered++) out.push('+O', 'K\r', '\n');
      return out;
    });
    server = f.server;
    const w = await RestoreWriter.open(`127.0.0.1:${f.port}`, 'pw', 3, 2000);
    w.addSet(Buffer.from('k1'), Buffer.from('v1'), -1);
    w.addSet(Buffer.from('k2'), Buffer.from('value two'), 1_900_000_000_123);
    const value = Buffer.from([0x05, 0x01, 0x02]);
    w.add(Buffer.from('k3'), 0, 2, -1, 0, 10, value, 0, value.length);
    await w.drain(0);
    expect(w.inFlight).toBe(0);
    const text = f.received().toString('latin1');
    expect(text.startsWith('*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n')).toBe(true);
    // A string without an expiry waits in an MSET, sent at the drain after the commands queued meanwhile.
    expect(text).toContain('*3\r\n$4\r\nMSET\r\n$2\r\nk1\r\n$2\r\nv1\r\n');
    expect(text).toContain('*5\r\n$3\r\nSET\r\n$2\r\nk2\r\n$9\r\nvalue two\r\n$4\r\nPXAT\r\n$13\r\n1900000000123\r\n');
    // RESTORE k3 0 <type 0, the value, version 10 LE, 8 bytes of CRC> REPLACE ABSTTL
    expect(text).toMatch(/\*6\r\n\$7\r\nRESTORE\r\n\$2\r\nk3\r\n\$1\r\n0\r\n\$14\r\n[^]{14}\r\n\$7\r\nREPLACE\r\n\$6\r\nABSTTL\r\n\*3\r\n\$4\r\nMSET/);
    w.close();
  });

  it('gathers strings without an expiry into MSETs of at most 128 keys and 64 KB; a bigger pair goes as SET', async () => {
    const { f, w } = await writerOnFake('+OK\r\n');
    const sent = new Map<string, string>();
    for (let i = 0; i < 300; i++) {
      // Keys 150 and 151 do not fit in one MSET's bytes; key 200 alone is over them.
      const v = i === 150 || i === 151 ? 'a'.repeat(40_000) : i === 200 ? 'b'.repeat(70_000) : `value-${i}`;
      sent.set(`key:${i}`, v);
      w.addSet(Buffer.from(`key:${i}`), Buffer.from(v), -1);
    }
    await w.drain(0);
    expect(w.inFlight).toBe(0);
    const got = new Map<string, string>();
    const msets = commands(f.received()).slice(1).map((c) => {
      expect(c[0] === 'MSET' || (c[0] === 'SET' && c.length === 3)).toBe(true);
      for (let j = 1; j < c.length; j += 2) got.set(c[j]!, c[j + 1]!);
      return c;
    });
    expect(got).toEqual(sent);
    // SET key:200 is written when queued; the MSET gathering meanwhile goes when full.
    expect(msets.map((c) => (c[0] === 'SET' ? c[1] : (c.length - 1) / 2))).toEqual([128, 23, 'key:200', 128, 20]);
    for (const c of msets.filter((x) => x[0] === 'MSET')) {
      expect((c.length - 1) / 2).toBeLessThanOrEqual(128);
      expect(c.slice(1).reduce((n, x) => n + x.length, 0)).toBeLessThanOrEqual(64 * 1024);
    }
    w.close();
  });

  it('a set of strings without an expiry goes as SADD after one DEL of its batch; with an expiry, as RESTORE', async () => {
    const { f, w } = await writerOnFake(':1\r\n');
    // RDB type 2: 3 members: "a", 5 as an 8-bit integer, -300 as a 16-bit one.
    const value = Buffer.from([0x03, 0x01, 0x61, 0xc0, 0x05, 0xc1, 0xd4, 0xfe]);
    const key = Buffer.from('xset:1');
    const entry = (k: Buffer, expireMs: number) => ({ db: 0, keyBuf: k, keyStart: 0, keyEnd: k.length, expireMs, type: 2, source: value, start: 0, end: value.length });
    w.addEntry(entry(key, -1), 10, Date.now());
    w.addEntry(entry(Buffer.from('xset:2'), -1), 10, Date.now());
    w.addEntry(entry(Buffer.from('xset:ttl'), Date.now() + 60_000), 10, Date.now());
    await w.drain(0);
    expect(w.inFlight).toBe(0);
    const got = commands(f.received()).slice(1);
    expect(got[0]![0]).toBe('RESTORE');
    expect(got[0]![1]).toBe('xset:ttl');
    expect(got.slice(1)).toEqual([['DEL', 'xset:1', 'xset:2'], ['SADD', 'xset:1', 'a', '5', '-300'], ['SADD', 'xset:2', 'a', '5', '-300']]);
    w.close();
  });

  it('an error line split across chunks fails the drain with its text; a payload error is RdbUnsupported', async () => {
    let step = 0;
    const f = await fakeRedis((all) => {
      const t = all.toString('latin1');
      if (step === 0 && t.includes('SELECT')) return (step = 1), ['+OK\r\n'];
      if (step === 1 && t.includes('RESTORE')) return (step = 2), ['-ERR DUMP pay', 'load version or checksum are wr', 'ong\r', '\n'];
      return null;
    });
    server = f.server;
    const w = await RestoreWriter.open(`127.0.0.1:${f.port}`, null, 0, 2000);
    const v = Buffer.from('x');
    w.add(Buffer.from('k'), 0, 1, -1, 0, 10, v, 0, 1);
    const e = await w.drain(0).then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(RdbUnsupported);
    expect((e as Error).message).toBe(`RESTORE on 127.0.0.1:${f.port}: ERR DUMP payload version or checksum are wrong`);
    w.close();
  });
});
