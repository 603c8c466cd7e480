/**
 * The agent's HTTP side, wired to the deployment: the dashboard and /metrics get their snapshot from the same
 * collectStatus `redis-shard status` (and --watch) uses, and the agent's events through a tee of its sink.
 */
import type { EventSink } from '../agent/index.js';
import { AgentObserver, ObserveServer, readHttpToken } from '../http/index.js';
import { localParts } from '../runtime/index.js';
import { agentPaths, proxyPaths, type Topology } from '../topology/index.js';
import { collectStatus } from './status.js';

export interface AgentHttp {
  /** The sink to give the agent: the events file (or whatever `base` is) plus the HTTP side. */
  events: EventSink;
  stop(): Promise<void>;
}

/** How long to wait before trying to bind again when the address is taken. */
const REBIND_MS = 5000;

/**
 * Starts the HTTP side when the description has agent.http; otherwise returns `base` unchanged. A bind that
 * fails (address in use) is logged and retried; it never stops the agent. Throws InvalidInputError for an
 * unreadable token before anything starts.
 */
export function startAgentHttp(topo: Topology, base: EventSink, opts: { rebindMs?: number } = {}): AgentHttp {
  const rebindMs = opts.rebindMs ?? REBIND_MS;
  const spec = topo.agent.http;
  if (!spec) return { events: base, stop: async () => {} };
  const token = readHttpToken(topo);
  const observer = new AgentObserver({
    shards: topo.shards.map((s) => s.name),
    sentinelCount: topo.sentinel.instances.length,
    stats: topo.proxy.stats,
    pool: topo.proxy.name,
    proxyLog: localParts(topo).proxy ? proxyPaths(topo.proxyDir).log : null,
    eventsFile: agentPaths(topo.proxyDir).events,
    snapshot: () => collectStatus(topo, { timeoutMs: 500, ownProxyOnly: true }),
  });
  const server = new ObserveServer(observer, { listen: spec.listen, token });
  let stopped = false;
  let retry: NodeJS.Timeout | null = null;
  let warned = false;
  const bind = () => {
    server.start().then(
      (address) => {
        if (stopped) return void server.stop();
        base.emit('http-listening', { address, token: token !== null });
        base.human(`metrics and dashboard on http://${address}/ (${token !== null ? 'token required' : 'no token'})`);
      },
      (e: Error) => {
        if (!warned) {
          base.emit('http-failed', { address: spec.listen, error: e.message, retryInMs: rebindMs });
          base.human(`cannot serve metrics and dashboard on ${spec.listen}: ${e.message}; retrying every ${rebindMs / 1000} s`);
          warned = true;
        }
        if (!stopped) {
          retry = setTimeout(bind, rebindMs);
          retry.unref();
        }
      },
    );
  };
  observer.start();
  bind();
  return {
    events: {
      emit(event, fields = {}) {
        base.emit(event, fields);
        observer.emit(event, fields);
      },
      human: (line) => base.human(line),
    },
    async stop() {
      stopped = true;
      if (retry) clearTimeout(retry);
      observer.stop();
      await server.stop();
    },
  };
}
