import type { DescriptionInput } from './schema.js';

/** The deployment used when there is no description file: design.md, "Default deployment". */
export const DEFAULT_DESCRIPTION: DescriptionInput = {
  stateDir: '.redis-shard',
  shards: [
    { name: 's1', master: '127.0.0.1:6666', instances: ['127.0.0.1:6666', '127.0.0.1:6667', '127.0.0.1:6668'] },
    { name: 's2', master: '127.0.0.1:7666', instances: ['127.0.0.1:7666', '127.0.0.1:7667', '127.0.0.1:7668'] },
  ],
  sentinel: { instances: ['127.0.0.1:26379', '127.0.0.1:26380', '127.0.0.1:26381'], quorum: 2 },
  proxy: {
    listen: '127.0.0.1:22121',
    stats: '127.0.0.1:22222',
    haproxy: { frontends: { s1: '127.0.0.1:22131', s2: '127.0.0.1:22132' } },
  },
  agent: { http: { listen: '127.0.0.1:22180' } },
};

export const DEFAULT_FILE_NAME = 'redis-shard.yml';

/**
 * The hash of a new deployment, chosen by measurement (bench/balance.ts, docs/hashring.md): the most even
 * spread over the key shapes measured, on 2 and 3 shards.
 */
export const NEW_DEPLOYMENT_HASH = 'murmur' as const;

/**
 * What a description without `proxy.hash` has always meant (the schema's default, nutcracker's own). It keeps
 * meaning that: changing it would move every key of a running deployment.
 */
export const LEGACY_DEFAULT_HASH = 'fnv1a_64' as const;

/** COMMENTED_DEFAULT with the hash it should state: NEW_DEPLOYMENT_HASH, or the one a running deployment uses. */
export function commentedDefault(hash: string): string {
  return COMMENTED_DEFAULT_TEMPLATE.replace('__HASH__', hash);
}

/** What `redis-shard init` writes: the default deployment, every setting shown with why it is what it is. */
const COMMENTED_DEFAULT_TEMPLATE = `# redis-shard deployment description.
# Every address is host:port. \`redis-shard up\` starts only the parts whose host is this machine's.

# pid, log, data and rendered config files. Relative paths are relative to this file's folder.
stateDir: .redis-shard

# Each shard is one master plus replicas. "master" is only the master at first start: after that,
# Sentinel decides, and later starts keep its choice. The shard name is the server name on the ketama
# ring, so a failover changes an address and moves no key.
shards:
  - name: s1
    master: 127.0.0.1:6666
    instances: [127.0.0.1:6666, 127.0.0.1:6667, 127.0.0.1:6668]
    weight: 1
  - name: s2
    master: 127.0.0.1:7666
    instances: [127.0.0.1:7666, 127.0.0.1:7667, 127.0.0.1:7668]
    weight: 1

sentinel:
  instances: [127.0.0.1:26379, 127.0.0.1:26380, 127.0.0.1:26381]
  quorum: 2                     # sentinels that must agree a master is down
  downAfterMilliseconds: 1000   # detection time; most of a failover's downtime. Use 3000-5000 across hosts.
  failoverTimeout: 10000
  parallelSyncs: 2
  # Sentinel's PING / "is it down?" periods, in ms (Sentinel's own: 1000). Kept in memory only, so up and
  # the agent set them on every connect. They speed agreement and avoid a second, spurious failover.
  # pingPeriodMs below 250 makes failovers abort (no replica's INFO is recent enough).
  pingPeriodMs: 300
  askPeriodMs: 100

# The nutcracker (twemproxy) pool. Keys are nutcracker's own.
proxy:
  name: redis-shard
  listen: 127.0.0.1:22121
  stats: 127.0.0.1:22222        # nutcracker's default is every interface; keep it on loopback
  # Key hash. murmur spreads keys that differ only in a counter (session-0001, key:1 ...) evenly; fnv1a_64,
  # nutcracker's own default, put 3000 session-%08x keys 896/1695/409 on 3 shards (docs/hashring.md,
  # npm run bench:balance). Changing it on a deployment that holds data moves keys: that is a reshard.
  hash: __HASH__
  distribution: ketama
  # hash_tag: "{}"              # keys sharing the part inside {} land on the same shard
  timeout: 2000                 # ms; nutcracker's own default is to wait forever
  auto_eject_hosts: false       # Sentinel handles failure; ejecting would move keys to other shards
  server_retry_timeout: 2000
  server_failure_limit: 1
  preconnect: true
  # Apply mode haproxy: nutcracker's server line for each shard points at that shard's HAProxy frontend
  # (loopback), and HAProxy's backend at the shard's master; a failover switches the backend through
  # HAProxy's admin socket, so nutcracker is never restarted. A shard not listed gets 127.0.0.1 and the
  # first free port from proxy.listen's + 10.
  haproxy:
    frontends:
      s1: 127.0.0.1:22131
      s2: 127.0.0.1:22132
    connectTimeoutMs: 1000
    idleTimeoutMs: 86400000      # nutcracker's connections are persistent and may idle for hours

redis:
  # A master refuses writes unless 1 replica is connected and acknowledged within 2 s: an isolated master
  # (cut off by a network split), or the last survivor of a shard, stops taking writes it would lose.
  # minReplicasMaxLag bounds what a split can lose (docs/partitions.md). minReplicasToWrite 0 favours availability.
  minReplicasToWrite: 1
  minReplicasMaxLag: 2
  appendonly: true

agent:
  # haproxy: switch the shard's HAProxy backend (no proxy restart, no client dropped);
  # supervise: rewrite nutcracker.yml and restart nutcracker; staging | exec: see README.
  apply: haproxy                # haproxy | supervise | staging | exec
  # stagingFile: /var/lib/redis-shard/nutcracker.staged.yml   # staging mode
  # exec: [/usr/local/bin/reload-proxy]                       # exec mode; the config path is appended
  reconcileIntervalMs: 1000
  # On seeing the promotion, also point the shard's other replicas at the new master (as the leader sentinel
  # does ~1 s later), so a master with minReplicasToWrite 1 takes writes again sooner.
  repointReplicas: true
  # /metrics (Prometheus), the dashboard at / and its live events. Any address other than loopback needs a
  # token (Bearer, or HTTP Basic with the token as password): tokenFile or tokenEnv. Remove to turn it off.
  http:
    listen: 127.0.0.1:22180
    # tokenFile: /etc/redis-shard/http-token
  # Fencing: when the agent has seen no majority of sentinels for longer than afterMs (0: down-after) and the
  # master its proxy uses has no replica connected to it that this host can see (the agent and that master are
  # on a minority side of a split), the shard is fenced until the majority is back (apply mode haproxy: its HAProxy
  # backend in maintenance; other modes: its server line points at address, which must refuse): clients get
  # errors instead of writes the failover on the other side discards.
  fence:
    enabled: true
    afterMs: 0
    address: 127.0.0.1:1

# auth:
#   passwordFile: /etc/redis-shard/password   # or passwordEnv: REDIS_SHARD_PASSWORD
`;

export const COMMENTED_DEFAULT = commentedDefault(NEW_DEPLOYMENT_HASH);

/** Where `init --services` puts the state dir: outside /tmp (the services' PrivateTmp hides it) and outside /home. */
export const SERVICES_STATE_DIR = '/var/lib/redis-shard';

/**
 * What `redis-shard init --services` writes: the default deployment made ready for `services install` as it is:
 * an absolute state dir outside temporary folders. The default apply mode (haproxy) already suits systemd: the
 * unprivileged agent switches HAProxy's backends through its admin socket and never restarts a process itself.
 */
export function commentedServicesDescription(stateDir = SERVICES_STATE_DIR, hash: string = NEW_DEPLOYMENT_HASH): string {
  const base = commentedDefault(hash);
  const replaced = base.replace(
    '# pid, log, data and rendered config files. Relative paths are relative to this file\'s folder.\nstateDir: .redis-shard',
    `# pid, log, data and rendered config files. Absolute and outside /tmp: the services' PrivateTmp hides /tmp.\nstateDir: ${stateDir}`,
  );
  if (replaced === base || !/^ {2}apply: haproxy/m.test(replaced)) throw new Error('internal: the services description template no longer matches the default one');
  return replaced;
}
