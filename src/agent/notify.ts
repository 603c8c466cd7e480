import { CheckFailedError, EnvironmentError, InvalidInputError, TransientError } from '../errors.js';
import { allProxies, proxyView, type Topology } from '../topology/index.js';
import { localParts } from '../runtime/index.js';
import { ConfigApplier } from './apply.js';
import type { EventSink } from './events.js';
import { ProxySupervisor } from './proxy.js';
import { probeRole } from './role-probe.js';
import { isHost, isName, joinAddress, parsePort } from '../engine/index.js';

/**
 * `redis-shard notify`: Sentinel's client-reconfig-script. Sentinel runs it with
 *   <master-name> <leader|observer> <state> <from-ip> <from-port> <to-ip> <to-port>
 * once per sentinel per failover (about three runs), by fork+execve (no shell), 60 s limit.
 *
 * Exit codes, chosen for what Sentinel does with them (sentinel.md: exit 1 or a signal -> retried up to 10
 * times from 30 s, doubling; >= 2 -> not retried, logged as -script-error):
 *   0  applied, or already applied (idempotent: the second and third run find the config done)
 *   1  transient: the new master did not answer ROLE, another apply held the lock, nutcracker would not
 *      restart or the exec command failed. Worth Sentinel's retry.
 *   2  bad input: wrong argument count or shape, unknown master name, an address that is not one of the
 *      shard's instances, an unreadable description. Retrying cannot fix it.
 *   3  environment: the config file cannot be written (e.g. staging path not writable), nutcracker missing.
 *   4  refused: the new master says it is a replica, or the edited config fails nutcracker -t.
 * Nothing from the arguments reaches a shell or a file name: they are validated, then used only to look
 * up the shard and to compare addresses.
 */
export const NOTIFY_EXIT = { applied: 0, retry: 1, badInput: 2, environment: 3, refused: 4 } as const;

export interface NotifyArgs {
  master: string;
  role: 'leader' | 'observer';
  state: 'start';
  from: string;
  to: string;
}

export interface NotifyResult {
  shard: string;
  to: string;
  /** false when the proxy config already pointed there. */
  changed: boolean;
  file: string;
}

/** Strict validation of Sentinel's seven arguments; throws InvalidInputError naming the bad one. */
export function parseNotifyArgs(argv: readonly string[]): NotifyArgs {
  const names = ['master-name', 'role', 'state', 'from-ip', 'from-port', 'to-ip', 'to-port'];
  if (argv.length !== 7) {
    throw new InvalidInputError(`expected 7 arguments (${names.join(' ')}), got ${argv.length}`);
  }
  const [master, role, state, fromIp, fromPort, toIp, toPort] = argv as [string, string, string, string, string, string, string];
  const bad = (i: number, v: string, want: string) =>
    new InvalidInputError(`${names[i]}: "${v.slice(0, 80).replace(/[^\x20-\x7e]/g, '?')}" is not ${want}`);
  if (!isName(master)) throw bad(0, master, 'a master name (letters, digits, "_", ".", "-")');
  if (role !== 'leader' && role !== 'observer') throw bad(1, role, '"leader" or "observer"');
  if (state !== 'start') throw bad(2, state, '"start" (the only state Sentinel 7 passes)');
  if (!isHost(fromIp)) throw bad(3, fromIp, 'an IP address or host name');
  const fp = parsePort(fromPort);
  if (fp === null) throw bad(4, fromPort, 'a port (1-65535)');
  if (!isHost(toIp)) throw bad(5, toIp, 'an IP address or host name');
  const tp = parsePort(toPort);
  if (tp === null) throw bad(6, toPort, 'a port (1-65535)');
  return { master, role, state, from: joinAddress(fromIp, fp), to: joinAddress(toIp, tp) };
}

/**
 * Points the proxy at `args.to` for shard `args.master`, through the agent's apply path (same checks, same
 * atomic write, same lock), after ROLE on the target confirms it is a master. Throws typed errors whose
 * exitCode is the exit code above.
 */
export async function runNotify(topo: Topology, args: NotifyArgs, password: string | null, events: EventSink): Promise<NotifyResult> {
  const shard = topo.shards.find((s) => s.name === args.master);
  if (!shard) {
    throw new InvalidInputError(`master name "${args.master}" is not a shard of ${topo.file ?? 'the default deployment'} (shards: ${topo.shards.map((s) => s.name).join(', ')}); nothing changed`);
  }
  if (!shard.instances.includes(args.to)) {
    throw new InvalidInputError(`${args.to} is not an instance of shard ${shard.name} (${shard.instances.join(', ')}); nothing changed`);
  }
  const proxy = topo.agent.apply === 'supervise' ? new ProxySupervisor(topo) : null;
  const applier = new ConfigApplier(topo, password, proxy);
  const base = await applier.readBase();
  const inEffect = () => {
    if (applier.needsActivation(base)) return false;
    if (!proxy) return true;
    const pid = proxy.current();
    return pid !== null && proxy.runsConfig(pid, base.sha, base.path);
  };
  if (base.problem === null && base.servers[shard.name] === args.to && inEffect()) {
    events.emit('notify', { ...args, result: 'already-applied', file: base.path });
    return { shard: shard.name, to: args.to, changed: false, file: base.path };
  }
  const role = await probeRole(args.to, password, 500);
  if ('error' in role) {
    throw new TransientError(`${args.to} did not answer ROLE (${role.error}); nothing changed, Sentinel will run this again`);
  }
  if (role.role !== 'master') {
    throw new CheckFailedError(`${args.to} says it is ${role.role === 'slave' ? 'a replica' : `"${role.role}"`}, not a master; the proxy is not pointed at it, nothing changed`);
  }
  // Edited under the lock from the config as it is then (the agent may have applied meanwhile). force: the
  // file may already say so while the proxy does not run it yet (a restart or command failed).
  const r = await applier.apply((b) => applier.edit(b, { [shard.name]: args.to }), { lockTimeoutMs: 5000, force: true });
  if (!r.ok) {
    events.emit('apply-failed', { path: 'notify', stage: r.stage, error: r.error.message, ...args });
    const msg = `${r.error.message}`;
    switch (r.stage) {
      case 'lock':
      case 'activate':
        throw new TransientError(msg, { cause: r.error });
      case 'write':
        throw new EnvironmentError(msg, { cause: r.error });
      case 'check':
        throw new CheckFailedError(msg, { cause: r.error });
      case 'edit':
        throw new CheckFailedError(`${base.path}: cannot edit it: ${msg}; nothing changed`, { cause: r.error });
    }
  }
  events.emit('config-applied', { path: 'notify', file: r.path, mode: topo.agent.apply, changed: r.changed, changes: [{ shard: shard.name, from: base.servers[shard.name] ?? null, to: args.to }], restart: r.restart, role: args.role });
  return { shard: shard.name, to: args.to, changed: r.changed, file: r.path };
}

/**
 * The proxies a notify on this host switches, each as a view of the description: the one proxy, or with several
 * every proxy on this host (Sentinel runs the script on its own host; each proxy's agent follows in any case).
 */
export function notifyTargets(topo: Topology): Topology[] {
  if (allProxies(topo).length === 1) return [topo];
  const here = localParts(topo).proxies;
  if (here.length === 0) throw new InvalidInputError(`none of the proxies of ${topo.file ?? 'the description'} runs on this host (${allProxies(topo).map((p) => p.listen).join(', ')})`);
  return here.map((p) => proxyView(topo, p));
}
