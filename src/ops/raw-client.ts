import { createConnection, type Socket } from 'node:net';
import { mustParseAddress } from '../topology/index.js';

/**
 * A client with no retry logic: one raw socket, SET after SET on one key, one at a time, no library in between.
 * Whatever the proxy does to it shows: an error reply is counted, a closed connection is counted as a drop.
 * To go on measuring, a dropped connection is replaced (a real client of this kind would have failed there).
 */
export interface RawClientReport {
  ok: number;
  /** Error replies (e.g. nutcracker's "ERR ..." while a shard's server is unreachable). */
  errors: number;
  errorSample: string | null;
  /** Connections closed under the client. */
  dropped: number;
  /** Longest stretch between two successful replies (ms): the stall this client saw. */
  longestStallMs: number;
}

export class RawWriter {
  private sock: Socket | null = null;
  private buf = '';
  private pending: ((line: string) => void) | null = null;
  private stopped = false;
  private loop: Promise<void> = Promise.resolve();
  private lastOk: number | null = null;
  private readonly r: RawClientReport = { ok: 0, errors: 0, errorSample: null, dropped: 0, longestStallMs: 0 };

  constructor(
    private readonly addr: string,
    private readonly key: string,
    private readonly password: string | null = null,
  ) {}

  get report(): RawClientReport {
    return { ...this.r };
  }

  private open(): Promise<void> {
    const { host, port } = mustParseAddress(this.addr);
    const sock = createConnection({ host, port });
    this.sock = sock;
    this.buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      const i = this.buf.indexOf('\r\n');
      if (i >= 0 && this.pending) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 2);
        const p = this.pending;
        this.pending = null;
        p(line);
      }
    });
    let connected = false;
    sock.once('connect', () => (connected = true));
    sock.on('close', () => {
      // Counted here, not where a reply was awaited: a close between two requests is a drop all the same (a
      // reconnect that is refused is not one more).
      if (this.sock === sock) {
        this.sock = null;
        if (connected && !this.stopped) this.r.dropped++;
      }
      this.pending?.('-CLOSED');
    });
    sock.on('error', () => {
      /* the close that follows is what counts */
    });
    return new Promise((resolve, reject) => {
      sock.once('connect', () => resolve());
      sock.once('error', reject);
    });
  }

  private send(args: string[]): Promise<string> {
    return new Promise((resolve) => {
      if (this.sock === null) return resolve('-CLOSED');
      this.pending = resolve;
      this.sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
    });
  }

  /** Connects (and authenticates); resolves once the first SET succeeded. */
  async start(): Promise<void> {
    await this.open();
    if (this.password !== null) await this.send(['AUTH', this.password]);
    this.loop = (async () => {
      let n = 0;
      while (!this.stopped) {
        if (this.sock === null) {
          try {
            await this.open();
            if (this.password !== null) await this.send(['AUTH', this.password]);
          } catch {
            await new Promise((r) => setTimeout(r, 5));
            continue;
          }
        }
        const reply = await this.send(['SET', this.key, String(++n)]);
        const now = performance.now();
        if (reply === '+OK') {
          if (this.lastOk !== null) this.r.longestStallMs = Math.max(this.r.longestStallMs, now - this.lastOk);
          this.lastOk = now;
          this.r.ok++;
        } else if (reply === '-CLOSED') {
          // Counted by the close handler.
        } else {
          this.r.errors++;
          this.r.errorSample ??= reply.slice(0, 120);
        }
        await new Promise((r) => setTimeout(r, 1));
      }
    })();
    const t0 = Date.now();
    while (this.r.ok === 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 5));
  }

  async stop(): Promise<RawClientReport> {
    this.stopped = true;
    this.sock?.destroy();
    await this.loop;
    if (this.lastOk !== null) this.r.longestStallMs = Math.max(this.r.longestStallMs, 0);
    return this.report;
  }
}
