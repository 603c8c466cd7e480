import { closeSync, openSync, readSync, statSync } from 'node:fs';

/**
 * Follows nutcracker's log from where it last read: new complete lines only, from the start again when the file
 * shrank (rotated or truncated). Reads at most `maxBytes` per call, so a huge log cannot stall the agent.
 */
export class LogFollower {
  private offset = 0;
  private partial = '';

  constructor(
    private readonly path: string,
    private readonly maxBytes = 4 * 1024 * 1024,
  ) {}

  /** Lines appended since the last call (none when the file does not exist). */
  read(): string[] {
    let size: number;
    try {
      size = statSync(this.path).size;
    } catch {
      return [];
    }
    if (size < this.offset) {
      this.offset = 0;
      this.partial = '';
    }
    if (size === this.offset) return [];
    const len = Math.min(size - this.offset, this.maxBytes);
    const buf = Buffer.alloc(len);
    const fd = openSync(this.path, 'r');
    try {
      readSync(fd, buf, 0, len, this.offset);
    } finally {
      closeSync(fd);
    }
    this.offset += len;
    const text = this.partial + buf.toString('utf8');
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    return lines;
  }
}
