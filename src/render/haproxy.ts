import type { Topology } from '../topology/index.js';

/** HAProxy's names for a shard: one backend per shard, holding one server named as the shard. */
export function haproxyBackend(shard: string): string {
  return `be_${shard}`;
}

/** `BACKEND/SERVER`, as the runtime API names a server. */
export function haproxyServerRef(shard: string): string {
  return `${haproxyBackend(shard)}/${shard}`;
}

export interface HaproxyRenderOptions {
  /** The admin socket's path (runtime API). */
  socket: string;
  /** The file-descriptor limit HAProxy will run with: maxconn is sized from it. */
  fdLimit: number;
}

/**
 * maxconn from the fd limit: each proxied connection takes two descriptors (client and server side), and
 * HAProxy keeps a few for its listeners, socket and logs. Asking for more than the limit allows makes it
 * refuse to start ("Cannot raise FD limit").
 */
export function haproxyMaxconn(fdLimit: number): number {
  return Math.max(64, Math.min(100_000, Math.floor((fdLimit - 100) / 2)));
}

/**
 * haproxy.cfg for apply mode "haproxy": TCP mode, one loopback frontend per shard (the address nutcracker's
 * server line for that shard points at), one backend per shard whose only server is the shard's master.
 * No health checks: HAProxy never decides where a shard's traffic goes; the agent does, through the runtime
 * API, and writes the same addresses here first so a restarted HAProxy starts on the current masters.
 */
export function renderHaproxyCfg(topo: Topology, masters: Record<string, string>, opts: HaproxyRenderOptions): string {
  const h = topo.proxy.haproxy;
  const lines = [
    '# Rendered by redis-shard (apply mode "haproxy"). The agent switches a shard\'s master through the admin',
    '# socket and rewrites the server address here too; edits by hand are overwritten.',
    'global',
    `    stats socket ${opts.socket} mode 600 level admin`,
    '    stats timeout 10s',
    `    maxconn ${haproxyMaxconn(opts.fdLimit)}`,
    '    log stderr format short local0 notice',
    '',
    'defaults',
    '    mode tcp',
    '    log global',
    '    option dontlognull',
    `    timeout connect ${h.connectTimeoutMs}ms`,
    // A refused connect (the master just died) closes nutcracker's side at once. HAProxy's retries would hold
    // it, waiting min(timeout connect, 1 s) between tries, for seconds past the switch to the new master.
    '    retries 0',
    '    # nutcracker keeps one connection per server open, idle for as long as no key of that shard is used.',
    `    timeout client ${h.idleTimeoutMs}ms`,
    `    timeout server ${h.idleTimeoutMs}ms`,
    '    option clitcpka',
    '    option srvtcpka',
  ];
  for (const s of topo.shards) {
    lines.push(
      '',
      `frontend fe_${s.name}`,
      `    bind ${topo.haproxyFrontends[s.name]}`,
      `    default_backend ${haproxyBackend(s.name)}`,
      '',
      `backend ${haproxyBackend(s.name)}`,
      // No "check": a health check could take the only server out on its own (or, with several, pick one).
      `    server ${s.name} ${masters[s.name] ?? s.master}`,
    );
  }
  return lines.join('\n') + '\n';
}

/** A shard's backend server line in a haproxy.cfg we rendered, cut into its parts. */
interface ServerLine {
  shard: string;
  /** Indentation and the "server " keyword. */
  lead: string;
  /** What stands between the server's name and its address. */
  gap: string;
  addr: string;
  /** Everything after the address (options such as "disabled"), with its leading space. */
  rest: string;
}

/**
 * Every line of `cfg`; a shard's server line (the one named after the shard, in `backend be_<shard>`) is replaced
 * by what `onServer` returns for it (undefined: kept).
 */
function mapServerLines(cfg: string, onServer: (s: ServerLine) => string | undefined): string[] {
  let backend: string | null = null;
  return cfg.split('\n').map((raw) => {
    const line = raw.trim();
    const b = /^backend\s+be_(\S+)$/.exec(line);
    if (b) {
      backend = b[1]!;
      return raw;
    }
    if (/^(frontend|global|defaults|listen)\b/.test(line)) backend = null;
    const s = /^(\s*server\s+)(\S+)(\s+)(\S+)(.*)$/.exec(raw);
    if (!s || backend === null || s[2] !== backend) return raw;
    return onServer({ shard: backend, lead: s[1]!, gap: s[3]!, addr: s[4]!, rest: s[5]! }) ?? raw;
  });
}

/** `cfg` with `edit` applied to each named shard's server line; every shard named must have one. */
function editServerLines(cfg: string, shards: string[], edit: (s: ServerLine) => string): string {
  const missing = new Set(shards);
  const out = mapServerLines(cfg, (s) => {
    if (!shards.includes(s.shard)) return undefined;
    missing.delete(s.shard);
    return edit(s);
  });
  if (missing.size > 0) throw new Error(`haproxy.cfg has no backend server for shard ${[...missing].join(', ')}`);
  return out.join('\n');
}

/** The server address of each shard's backend in a haproxy.cfg we rendered: shard name -> host:port. */
export function readHaproxyServers(cfg: string): Record<string, string> {
  const out: Record<string, string> = {};
  mapServerLines(cfg, (s) => void (out[s.shard] = s.addr));
  return out;
}

/** `cfg` with the server address of each named shard replaced; every other line stays as it is. */
export function setHaproxyServers(cfg: string, addresses: Record<string, string>): string {
  return editServerLines(cfg, Object.keys(addresses), (s) => `${s.lead}${s.shard}${s.gap}${addresses[s.shard]}${s.rest}`);
}

/**
 * Where nutcracker's server line for each shard points: at the shard's HAProxy frontend in apply mode
 * "haproxy", else at the master itself. The names (and so the ring) are the same either way.
 */
export function nutcrackerTargets(topo: Topology, masters: Record<string, string>): Record<string, string> {
  return topo.agent.apply === 'haproxy' ? { ...topo.haproxyFrontends } : masters;
}

/**
 * Shards whose backend server line carries `disabled`: HAProxy starts that server in maintenance. The agent
 * writes it when it fences a shard (agent/fence.ts), so a HAProxy restarted while the fence holds starts fenced
 * instead of sending writes to a master cut off from the majority.
 */
export function readHaproxyFenced(cfg: string): string[] {
  const out: string[] = [];
  mapServerLines(cfg, (s) => void (/(^|\s)disabled(\s|$)/.test(s.rest) && out.push(s.shard)));
  return out;
}

/** `cfg` with `disabled` added to (true) or removed from (false) each named shard's server line. */
export function setHaproxyFenced(cfg: string, fenced: Record<string, boolean>): string {
  return editServerLines(cfg, Object.keys(fenced), (s) => {
    const rest = s.rest.split(/\s+/).filter((w) => w !== '' && w !== 'disabled');
    if (fenced[s.shard]) rest.push('disabled');
    return `${s.lead}${s.shard}${s.gap}${s.addr}${rest.map((w) => ` ${w}`).join('')}`;
  });
}
