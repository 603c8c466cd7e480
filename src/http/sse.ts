import type { ServerResponse } from 'node:http';

interface Message {
  seq: number;
  event: string;
  data: string;
}

/**
 * Server-sent events with replay. Every message that changes what a dashboard shows gets an id
 * `<boot>.<seq>`; a browser that reconnects sends the last id it saw (Last-Event-ID) and gets every message
 * after it from the buffer. An id from another agent process, or older than the buffer, gets a full reset
 * instead (the caller's `resetPayload`). Snapshots carry no id: only the latest matters.
 */
export class EventHub {
  private readonly buffer: Message[] = [];
  private seq = 0;
  private readonly clients = new Set<ServerResponse>();
  readonly boot = Date.now().toString(36);

  constructor(private readonly keep = 2000) {}

  get size(): number {
    return this.clients.size;
  }

  private id(seq: number): string {
    return `${this.boot}.${seq}`;
  }

  /** A message every client gets, kept for replay. */
  publish(event: string, payload: unknown): void {
    const m: Message = { seq: ++this.seq, event, data: JSON.stringify(payload) };
    this.buffer.push(m);
    if (this.buffer.length > this.keep) this.buffer.shift();
    for (const c of this.clients) write(c, m.event, m.data, this.id(m.seq));
  }

  /** A message for the clients connected now, not kept (the latest snapshot). */
  broadcast(event: string, payload: unknown): void {
    const data = JSON.stringify(payload);
    for (const c of this.clients) write(c, event, data);
  }

  /** The messages after `lastEventId`, or null when they cannot be replayed (another boot, or too old). */
  since(lastEventId: string | undefined): Array<{ id: string; event: string; data: string }> | null {
    if (!lastEventId) return null;
    const [boot, seqText] = lastEventId.split('.');
    const seq = Number(seqText);
    if (boot !== this.boot || !Number.isInteger(seq) || seq > this.seq) return null;
    const oldest = this.buffer[0]?.seq ?? this.seq + 1;
    if (seq < oldest - 1) return null;
    return this.buffer.filter((m) => m.seq > seq).map((m) => ({ id: this.id(m.seq), event: m.event, data: m.data }));
  }

  /** Takes over a response: headers, the replay (or a reset), then live messages until it closes. */
  attach(res: ServerResponse, lastEventId: string | undefined, resetPayload: () => unknown, first?: () => unknown): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 1000\n\n');
    const replay = this.since(lastEventId);
    if (replay === null) write(res, 'reset', JSON.stringify(resetPayload()), this.id(this.seq));
    else for (const m of replay) write(res, m.event, m.data, m.id);
    if (first) write(res, 'snapshot', JSON.stringify(first()));
    this.clients.add(res);
    const ping = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    ping.unref();
    res.on('close', () => {
      clearInterval(ping);
      this.clients.delete(res);
    });
  }

  closeAll(): void {
    for (const c of this.clients) c.end();
    this.clients.clear();
  }
}

function write(res: ServerResponse, event: string, data: string, id?: string): void {
  res.write(`${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${data}\n\n`);
}
