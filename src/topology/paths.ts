import { join } from 'node:path';
import { addressSlug } from './address.js';

/**
 * Where each process keeps its files under the state dir. One folder per process, named by its address. A
 * proxy's nutcracker, HAProxy and agent live under its own folder, `topo.proxyDir` (the state dir itself
 * with one proxy; `<stateDir>/proxies/<listen>` with several).
 */
export interface ProcessPaths {
  dir: string;
  conf: string;
  pid: string;
  log: string;
}

export function redisPaths(stateDir: string, addr: string): ProcessPaths {
  const dir = join(stateDir, 'redis', addressSlug(addr));
  return { dir, conf: join(dir, 'redis.conf'), pid: join(dir, 'redis.pid'), log: join(dir, 'redis.log') };
}

export function sentinelPaths(stateDir: string, addr: string): ProcessPaths {
  const dir = join(stateDir, 'sentinel', addressSlug(addr));
  return { dir, conf: join(dir, 'sentinel.conf'), pid: join(dir, 'sentinel.pid'), log: join(dir, 'sentinel.log') };
}

export function proxyPaths(proxyDir: string): ProcessPaths {
  const dir = join(proxyDir, 'proxy');
  return { dir, conf: join(dir, 'nutcracker.yml'), pid: join(dir, 'nutcracker.pid'), log: join(dir, 'nutcracker.log') };
}

export interface HaproxyPaths extends ProcessPaths {
  /** The runtime API (admin level, mode 0600): how the agent switches a shard's master. */
  socket: string;
}

export function haproxyPaths(proxyDir: string): HaproxyPaths {
  const dir = join(proxyDir, 'haproxy');
  return { dir, conf: join(dir, 'haproxy.cfg'), pid: join(dir, 'haproxy.pid'), log: join(dir, 'haproxy.log'), socket: join(dir, 'admin.sock') };
}

export interface AgentPaths extends ProcessPaths {
  /** The supervisor that restarts the agent if it dies. */
  supervisorPid: string;
  /** One JSON object per line: the agent's events. */
  events: string;
  /** The number of reconcile passes the running agent has completed (rewritten after each): liveness, and what tests wait on. */
  passes: string;
}

export function agentPaths(proxyDir: string): AgentPaths {
  const dir = join(proxyDir, 'agent');
  return {
    dir,
    conf: join(dir, 'agent.json'),
    pid: join(dir, 'agent.pid'),
    log: join(dir, 'agent.log'),
    supervisorPid: join(dir, 'supervisor.pid'),
    events: join(dir, 'events.jsonl'),
    passes: join(dir, 'passes'),
  };
}
