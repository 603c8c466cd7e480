import { connect } from 'node:net';

/**
 * Writes `data` (pipelined commands) to 127.0.0.1:`port` on a connection of its own and resolves with what came
 * back once `replies` reply lines have: every reply the benches wait for here is one line.
 */
export function sendPipelined(port: number, data: Buffer | string, replies: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    let lines = 0;
    s.on('error', reject);
    s.on('data', (d: Buffer) => {
      got.push(d);
      for (const x of d) if (x === 10) lines++;
      if (lines >= replies) {
        s.destroy();
        resolve(Buffer.concat(got));
      }
    });
    s.write(data);
  });
}
