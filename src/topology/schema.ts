import { z } from 'zod';
import { parseAddress } from './address.js';

/** twemproxy 0.5.0's hash functions (src/hashkit/nc_hashkit.h). */
export const HASHES = [
  'one_at_a_time', 'md5', 'crc16', 'crc32', 'crc32a', 'fnv1_64', 'fnv1a_64',
  'fnv1_32', 'fnv1a_32', 'hsieh', 'murmur', 'jenkins',
] as const;
export const DISTRIBUTIONS = ['ketama', 'modula', 'random'] as const;
export const APPLY_MODES = ['haproxy', 'supervise', 'staging', 'exec'] as const;

const address = z.string().superRefine((v, ctx) => {
  const a = parseAddress(v);
  if (typeof a === 'string') ctx.addIssue({ code: 'custom', message: a });
});

/** Shard names become Sentinel master names and nutcracker server names: no spaces, nothing a shell cares about. */
const shardName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'expected letters, digits, "_", "." or "-" (at most 64), starting with a letter or digit');

/**
 * Redis, Sentinel and nutcracker keep these numbers in C ints: past 2^31-1 nutcracker says only "syntax is
 * invalid" and Sentinel dies with "negative or zero time parameter", naming no field of ours. So the schema
 * stops them first, and the error names the field.
 */
export const ENGINE_INT_MAX = 2147483647;
const engineMax = (n: z.ZodNumber) => n.max(ENGINE_INT_MAX, `at most ${ENGINE_INT_MAX}: the engine keeps it in a 32-bit int`);
const engineInt = (min: number) => engineMax(z.number().int().min(min));
const positiveInt = engineMax(z.number().int().positive());

export const shardSchema = z.strictObject({
  name: shardName,
  /** The instance that is master at first start. Later starts keep whatever Sentinel elected since. */
  master: address,
  instances: z.array(address).min(1),
  /** nutcracker server weight: the share of keys this shard gets relative to the others. */
  weight: positiveInt.default(1),
});

export const sentinelSchema = z.strictObject({
  instances: z.array(address).min(1),
  quorum: positiveInt.default(2),
  downAfterMilliseconds: positiveInt.default(1000),
  failoverTimeout: positiveInt.default(10000),
  parallelSyncs: positiveInt.default(2),
  /**
   * Sentinel's PING and "is the master down?" periods (SENTINEL DEBUG ping-period / ask-period; 1000 ms by
   * default, kept only in memory, so `up` and the agent apply them on every connect). A shorter ping period
   * lifts the 1000 ms reconnect throttle that let a just-promoted master be judged down a second time, and a
   * shorter ask period makes the sentinels agree sooner. The ping period has a floor: Sentinel accepts a replica
   * for promotion only if its INFO is younger than 5 ping periods, and polls replicas' INFO once a second during
   * a failover, so below ~250 ms failovers abort with -failover-abort-no-good-slave. 0 leaves Sentinel's values.
   */
  pingPeriodMs: z
    .number()
    .int()
    .max(ENGINE_INT_MAX, `at most ${ENGINE_INT_MAX}: the engine keeps it in a 32-bit int`)
    .refine((v) => v === 0 || v >= 250, 'must be 0 (Sentinel default) or at least 250: Sentinel rejects replicas whose INFO is older than 5 ping periods, and polls it once a second during a failover')
    .default(300),
  askPeriodMs: engineInt(0).default(100),
});

/**
 * HAProxy between nutcracker and the masters (apply mode "haproxy"): one loopback frontend per shard, whose
 * backend the agent points at the shard's master through the runtime API, so a failover restarts nothing.
 */
export const haproxySchema = z.strictObject({
  /**
   * The frontend each shard's nutcracker server line points at, by shard name. A shard not listed gets
   * 127.0.0.1 and the first port from proxy.listen's + 10 (in shard order) that no other address of the
   * description uses; the default deployment names 22131 and 22132.
   */
  frontends: z.record(shardName, address).default(() => ({})),
  /** ms HAProxy waits for the master to accept a connection. */
  connectTimeoutMs: positiveInt.default(1000),
  /**
   * ms an idle connection is kept, on both sides. nutcracker keeps one persistent connection per server and
   * may leave it idle for hours; TCP keepalive is on as well, so a dead peer is still noticed.
   */
  idleTimeoutMs: positiveInt.default(24 * 3600 * 1000),
});

/** The nutcracker pool. Keys keep nutcracker's own names, so its documentation applies as written. */
export const proxySchema = z.strictObject({
  /** The pool's name in nutcracker.yml. */
  name: shardName.default('redis-shard'),
  /** Required unless `proxies` lists the proxies (then it must be absent: each proxy has its own). */
  listen: address.optional(),
  /** Stats listener. nutcracker's own default binds every interface; ours binds loopback (127.0.0.1:22222 when not given). */
  stats: address.optional(),
  hash: z.enum(HASHES).default('fnv1a_64'),
  distribution: z.enum(DISTRIBUTIONS).default('ketama'),
  hash_tag: z.string().length(2, 'hash_tag must be exactly two characters, e.g. "{}"').optional(),
  /** Milliseconds a request may wait for a server. nutcracker's default is to wait forever. */
  timeout: positiveInt.default(2000),
  backlog: positiveInt.default(1024),
  preconnect: z.boolean().default(true),
  server_connections: positiveInt.default(1),
  /** Off: with Sentinel owning failover, ejecting a shard would silently send its keys to the other shards. */
  auto_eject_hosts: z.boolean().default(false),
  server_retry_timeout: positiveInt.default(2000),
  server_failure_limit: positiveInt.default(1),
  tcpkeepalive: z.boolean().default(true),
  redis_db: engineInt(0).optional(),
  /** Used only when agent.apply is "haproxy". */
  haproxy: haproxySchema.default(() => haproxySchema.parse({})),
});

export const redisSchema = z.strictObject({
  /**
   * A master refuses writes unless this many replicas are connected and recent. 1 means a master cut off from
   * its replicas (a partition, a hang, or the last survivor of a shard) stops taking writes that would be lost.
   * 0 keeps writes flowing at the risk of losing them.
   */
  minReplicasToWrite: engineInt(0).default(1),
  minReplicasMaxLag: positiveInt.default(2),
  appendonly: z.boolean().default(true),
  /** Bytes; 0 means no limit. */
  maxmemory: z.number().int().min(0).default(0),
});

/** A host that only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === '::1' || host === '[::1]' || host === 'localhost';
}

/**
 * The agent's read-only HTTP side: /metrics, the dashboard, server-sent events. The token (never in this file)
 * is required for any address other people can reach: Bearer token, or HTTP Basic with the token as password.
 */
export const agentHttpSchema = z
  .strictObject({
    listen: address,
    tokenFile: z.string().min(1).optional(),
    tokenEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name').optional(),
  })
  .superRefine((h, ctx) => {
    if (h.tokenFile !== undefined && h.tokenEnv !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['tokenFile'], message: 'give at most one of tokenFile or tokenEnv' });
    }
    const a = parseAddress(h.listen);
    if (typeof a !== 'string' && !isLoopbackHost(a.host) && h.tokenFile === undefined && h.tokenEnv === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['listen'],
        message: `${h.listen} is not a loopback address: /metrics and the dashboard would be open to the network; set agent.http.tokenFile or agent.http.tokenEnv, or listen on 127.0.0.1`,
      });
    }
  });

/**
 * One of several proxies (`proxies:`): what differs between them. Everything that places keys (pool name, hash,
 * distribution, hash_tag, weights) and nutcracker's other keys stay in `proxy:`, shared, so every proxy puts a
 * key on the same shard. Each proxy runs its own nutcracker, HAProxy (apply mode haproxy) and agent on its host.
 */
export const proxyEntrySchema = z.strictObject({
  listen: address,
  /** Not given: the listen host (127.0.0.1 when that is not loopback) at the listen port + 101. */
  stats: address.optional(),
  /** Apply mode haproxy: this proxy's frontends. Not given: on the listen host when it is loopback (else 127.0.0.1), from the listen port + 10. */
  haproxy: z.strictObject({ frontends: z.record(shardName, address).default(() => ({})) }).default(() => ({ frontends: {} })),
  /** This proxy's agent's /metrics and dashboard (as agent.http, which is refused beside proxies). Absent: none. */
  http: agentHttpSchema.optional(),
});

export const agentSchema = z.strictObject({
  apply: z.enum(APPLY_MODES).default('haproxy'),
  /** staging mode: where the agent writes the new nutcracker.yml for a privileged installer. */
  stagingFile: z.string().min(1).optional(),
  /** exec mode: argv run after the new config is written (no shell); the config path is appended. */
  exec: z.array(z.string().min(1)).min(1).optional(),
  /**
   * When the agent sees the promotion itself (fast path), it also points the shard's other replicas at the new
   * master, as the leader sentinel does about a second later; with minReplicasToWrite 1 that second is
   * otherwise a second of refused writes. See agent/replica-repoint.ts.
   */
  repointReplicas: z.boolean().default(true),
  /** A full reconcile runs at least this often, events or not. */
  reconcileIntervalMs: positiveInt.default(1000),
  /** Absent: no HTTP server (the default deployment sets one on 127.0.0.1:22180). */
  http: agentHttpSchema.optional(),
  /**
   * Fencing (agent/fence.ts): when the agent has seen no majority of sentinels for longer than afterMs while
   * the master its proxy sends a shard to cannot be confirmed (no replica reachable from here is connected to
   * it), that shard is fenced: in apply mode haproxy its HAProxy backend goes into maintenance; in the other
   * modes its server line is pointed at `address`, which refuses. Clients on a minority side get errors instead
   * of acknowledgements that the majority's failover will discard. Undone by the majority only (onto the old
   * master once no sentinel is failing the shard over). docs/partitions.md has the figures behind the default.
   */
  fence: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** Default: sentinel.downAfterMilliseconds (0 means that). */
      afterMs: z.number().int().min(0).default(0),
      /** Must refuse connections on the proxy's host; the name on the server line stays, so no key moves. */
      address: address.default('127.0.0.1:1'),
    })
    .default(() => ({ enabled: true, afterMs: 0, address: '127.0.0.1:1' })),
});

export const authSchema = z
  .strictObject({
    passwordFile: z.string().min(1).optional(),
    passwordEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name').optional(),
  })
  .refine((a) => (a.passwordFile === undefined) !== (a.passwordEnv === undefined), {
    message: 'give exactly one of passwordFile or passwordEnv (the password itself never goes in this file)',
  });

export const descriptionSchema = z.strictObject({
  /** Where pid, log, data and rendered config files go. Relative to the description file's folder. */
  stateDir: z.string().min(1).default('.redis-shard'),
  shards: z.array(shardSchema).min(1),
  sentinel: sentinelSchema,
  /** The nutcracker pool's settings, shared by every proxy; with one proxy, also its addresses. */
  proxy: proxySchema.default(() => proxySchema.parse({})),
  /** Several proxies, one per application host for instance: each follows the elected masters on its own. */
  proxies: z.array(proxyEntrySchema).min(1).optional(),
  redis: redisSchema.default(() => redisSchema.parse({})),
  agent: agentSchema.default(() => agentSchema.parse({})),
  auth: authSchema.optional(),
});

export type DescriptionInput = z.input<typeof descriptionSchema>;
export type Description = z.output<typeof descriptionSchema>;
export type ShardSpec = Description['shards'][number];
export type SentinelSpec = Description['sentinel'];
/** The pool's settings with one proxy's addresses: what every reader of `topo.proxy` sees. */
export type ProxySpec = Description['proxy'] & { listen: string; stats: string };
export type ProxyEntrySpec = NonNullable<Description['proxies']>[number];
export type HaproxySpec = ProxySpec['haproxy'];
export type RedisSpec = Description['redis'];
export type AgentSpec = Description['agent'];
export type AgentHttpSpec = NonNullable<AgentSpec['http']>;
export type AuthSpec = NonNullable<Description['auth']>;
export type HashName = (typeof HASHES)[number];
export type DistributionName = (typeof DISTRIBUTIONS)[number];
export type ApplyMode = (typeof APPLY_MODES)[number];
