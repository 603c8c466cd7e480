import { createReadStream, existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { timingSafeEqual, createHash } from 'node:crypto';
import { prometheusContentType as PROM_CONTENT_TYPE } from 'prom-client';
import { mustParseAddress } from '../topology/index.js';
import type { AgentObserver } from './observer.js';

/** The dashboard's files: web/ at the package root (beside src/ and dist/); no build step. */
const WEB = join(dirname(dirname(dirname(fileURLToPath(import.meta.url)))), 'web');
const require = createRequire(import.meta.url);

function uplotFile(name: string): string {
  return join(dirname(require.resolve('uplot/package.json')), 'dist', name);
}

const STATIC: Record<string, { file: () => string; type: string }> = {
  '/': { file: () => join(WEB, 'dashboard.html'), type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: () => join(WEB, 'dashboard.js'), type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: () => join(WEB, 'dashboard.css'), type: 'text/css; charset=utf-8' },
  '/uplot.js': { file: () => uplotFile('uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/uplot.css': { file: () => uplotFile('uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

export interface HttpOptions {
  listen: string;
  /** Required for every request when set: `Authorization: Bearer <token>`, or Basic with it as password. */
  token: string | null;
}

/**
 * The agent's read-only HTTP side: /metrics (Prometheus text), the dashboard (/ and its files), /api/state and
 * /api/failovers (JSON), /events (server-sent events with replay). Only GET and HEAD; it changes nothing.
 */
export class ObserveServer {
  private server: Server | null = null;

  constructor(
    private readonly observer: AgentObserver,
    private readonly opts: HttpOptions,
  ) {}

  /** Resolves once listening; rejects with the bind error (address in use, not ours). */
  async start(): Promise<string> {
    const { host, port } = mustParseAddress(this.opts.listen);
    const server = createServer((req, res) => void this.handle(req, res).catch((e) => fail(res, 500, (e as Error).message)));
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host: host.replace(/^\[|\]$/g, '') }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const a = server.address();
    return typeof a === 'object' && a !== null ? `${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}` : this.opts.listen;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  private authorized(req: IncomingMessage): boolean {
    if (this.opts.token === null) return true;
    const h = req.headers.authorization ?? '';
    let given: string | null = null;
    if (h.startsWith('Bearer ')) given = h.slice(7).trim();
    else if (h.startsWith('Basic ')) {
      const decoded = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8');
      given = decoded.slice(decoded.indexOf(':') + 1);
    }
    if (given === null) return false;
    const digest = (s: string) => createHash('sha256').update(s).digest();
    return timingSafeEqual(digest(given), digest(this.opts.token));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return fail(res, 405, 'read-only: only GET and HEAD');
    }
    if (!this.authorized(req)) {
      res.setHeader('www-authenticate', 'Basic realm="redis-shard", charset="UTF-8"');
      return fail(res, 401, 'a token is required (Authorization: Bearer <token>, or Basic with the token as password)');
    }
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/metrics') {
      const { text, timedOut } = await this.observer.scrape();
      if (timedOut.length > 0) res.setHeader('x-redis-shard-timed-out', timedOut.map((s) => `${s.source} ${s.addr}`).join(', '));
      res.writeHead(200, { 'content-type': PROM_CONTENT_TYPE, 'cache-control': 'no-store' });
      return void res.end(req.method === 'HEAD' ? undefined : text);
    }
    if (path === '/api/state') return json(res, await this.observer.state());
    if (path === '/api/failovers') return json(res, this.observer.failovers());
    if (path === '/events') {
      const last = req.headers['last-event-id'];
      const lastId = Array.isArray(last) ? last[0] : last;
      // The first snapshot comes with the next push (within a second); the rows come at once.
      return this.observer.hub.attach(res, lastId, () => ({ failovers: this.observer.failovers() }));
    }
    const file = STATIC[path];
    if (file) {
      const p = file.file();
      if (!existsSync(p)) return fail(res, 500, `missing ${p}`);
      res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-cache' });
      if (req.method === 'HEAD') return void res.end();
      return void createReadStream(p).pipe(res);
    }
    return fail(res, 404, 'not found: /, /metrics, /events, /api/state, /api/failovers');
  }
}

function json(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function fail(res: ServerResponse, code: number, message: string): void {
  if (res.headersSent) return void res.end();
  res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(`${message}\n`);
}
