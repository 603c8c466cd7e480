import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBinary, spawnDetached, stopPid, waitFor, portAccepts, type Spawned } from '../../src/runtime/index.js';

/**
 * Plain redis-servers (no replicas, no sentinels) behind one nutcracker, for tests about what the proxy
 * itself does with a command. Everything is stopped by PID in stop(), and the temp dir removed.
 */
export interface ProxyFixture {
  dir: string;
  proxyPort: number;
  backendPorts: number[];
  /** nutcracker.yml as written. */
  yml: string;
  log: string;
  stop(): Promise<void>;
}

/** extraPorts: redis-servers started beside the backends but not behind the proxy. */
export async function startProxyFixture(opts: {
  backendPorts: number[];
  proxyPort: number;
  statsPort: number;
  hashTag?: string;
  extraPorts?: number[];
}): Promise<ProxyFixture> {
  const dir = mkdtempSync(join(tmpdir(), `redis-shard-proxy-${opts.proxyPort}-`));
  const procs: Spawned[] = [];
  const stop = async () => {
    for (const p of procs.reverse()) await stopPid(p.pid, { graceMs: 2000 });
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const redisPorts = [...opts.backendPorts, ...(opts.extraPorts ?? [])];
    for (const port of redisPorts) {
      procs.push(
        await spawnDetached({
          bin: requireBinary('redis-server'),
          args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'],
          logFile: join(dir, `redis-${port}.log`),
          stateDir: dir,
        }),
      );
    }
    for (const port of redisPorts) await waitFor(() => portAccepts('127.0.0.1', port), { timeoutMs: 10_000, what: `redis on ${port}` });
    const yml = [
      'pool:',
      `  listen: 127.0.0.1:${opts.proxyPort}`,
      '  redis: true',
      '  hash: fnv1a_64',
      '  distribution: ketama',
      ...(opts.hashTag ? [`  hash_tag: "${opts.hashTag}"`] : []),
      '  timeout: 2000',
      '  auto_eject_hosts: false',
      '  preconnect: true',
      '  servers:',
      ...opts.backendPorts.map((p, i) => `    - 127.0.0.1:${p}:1 s${i + 1}`),
      '',
    ].join('\n');
    const conf = join(dir, 'nutcracker.yml');
    writeFileSync(conf, yml);
    const log = join(dir, 'nutcracker.log');
    procs.push(
      await spawnDetached({
        bin: requireBinary('nutcracker'),
        args: ['-c', conf, '-o', log, '-s', String(opts.statsPort), '-a', '127.0.0.1'],
        logFile: join(dir, 'nutcracker.out'),
        stateDir: dir,
      }),
    );
    await waitFor(() => portAccepts('127.0.0.1', opts.proxyPort), { timeoutMs: 10_000, what: 'nutcracker' });
    return { dir, proxyPort: opts.proxyPort, backendPorts: opts.backendPorts, yml, log, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

export type RawOutcome = { kind: 'closed' } | { kind: 'error'; text: string } | { kind: 'reply'; text: string } | { kind: 'timeout' };

/** One request, in RESP, on a fresh connection: did the server answer, answer with an error, or hang up? */
export function rawCall(port: number, argv: Array<string | Buffer>, timeoutMs = 3000): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    let got = Buffer.alloc(0);
    let done = false;
    const finish = (o: RawOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(o);
    };
    const timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
    sock.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      // The first line is enough to tell an error from an answer.
      const eol = got.indexOf('\r\n');
      if (eol === -1) return;
      const line = got.subarray(0, eol).toString('latin1');
      finish(line.startsWith('-') ? { kind: 'error', text: line.slice(1) } : { kind: 'reply', text: line });
    });
    sock.on('error', () => finish({ kind: 'closed' }));
    sock.on('close', () => finish({ kind: 'closed' }));
    const parts: Buffer[] = [Buffer.from(`*${argv.length}\r\n`)];
    for (const a of argv) {
      const b = typeof a === 'string' ? Buffer.from(a) : a;
      parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
    }
    sock.write(Buffer.concat(parts));
  });
}
