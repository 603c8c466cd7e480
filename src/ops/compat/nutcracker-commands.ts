/**
 * What twemproxy (nutcracker) 0.5.0 accepts, per command name, and how it parses the arguments. Taken from
 * src/proto/nc_redis.c at tag 0.5.0 (the name switch in redis_parse_req and the redis_arg* classes), not
 * from documentation; test/integration/compat-differential.test.ts sends every command of the installed
 * Redis through a real nutcracker and fails when the binary does anything else.
 *
 * A request nutcracker cannot parse, an unknown name or a wrong argument count for the name's class, is a
 * parse error: it closes the client's connection without a reply, and logs only the unknown names.
 */

/**
 * nutcracker's argument classes (nc_redis.c redis_argz ... redis_nokey). `args` below counts what follows the
 * command name.
 */
export type ArgClass =
  /** no arguments at all */
  | 'argz'
  /** key only */
  | 'arg0'
  /** key + exactly 1 */
  | 'arg1'
  /** key + exactly 2 */
  | 'arg2'
  /** key + exactly 3 */
  | 'arg3'
  /** key + any number */
  | 'argn'
  /** one or more keys, split per key across shards */
  | 'argx'
  /** key value pairs, split per key across shards */
  | 'argkvx'
  /** script numkeys key... arg... (numkeys must be at least 1) */
  | 'argeval'
  /** anything, no key */
  | 'nokey';

const CLASSES: Record<ArgClass, string[]> = {
  argz: ['COMMAND', 'PING', 'QUIT'],
  arg0: ['AUTH', 'DECR', 'DUMP', 'GET', 'GETDEL', 'HGETALL', 'HKEYS', 'HLEN', 'HVALS', 'INCR', 'LLEN', 'PERSIST', 'PTTL', 'SCARD', 'SMEMBERS', 'STRLEN', 'TTL', 'TYPE', 'ZCARD'],
  arg1: ['APPEND', 'DECRBY', 'EXPIRE', 'EXPIREAT', 'GETBIT', 'GETSET', 'HEXISTS', 'HGET', 'HSTRLEN', 'INCRBY', 'INCRBYFLOAT', 'LINDEX', 'MOVE', 'PEXPIRE', 'PEXPIREAT', 'RPOPLPUSH', 'SETNX', 'SISMEMBER', 'ZRANK', 'ZREVRANK', 'ZSCORE'],
  arg2: ['GETRANGE', 'HINCRBY', 'HINCRBYFLOAT', 'HSETNX', 'LRANGE', 'LREM', 'LSET', 'LTRIM', 'PSETEX', 'SETBIT', 'SETEX', 'SETRANGE', 'SMOVE', 'ZCOUNT', 'ZINCRBY', 'ZLEXCOUNT', 'ZREMRANGEBYLEX', 'ZREMRANGEBYRANK', 'ZREMRANGEBYSCORE'],
  arg3: ['LINSERT', 'LMOVE'],
  argn: [
    'BITCOUNT', 'BITFIELD', 'BITPOS', 'COPY', 'EXISTS', 'GEOADD', 'GEODIST', 'GEOHASH', 'GEOPOS', 'GEORADIUS', 'GEORADIUSBYMEMBER',
    'GEOSEARCH', 'GEOSEARCHSTORE', 'GETEX', 'HDEL', 'HMGET', 'HMSET', 'HRANDFIELD', 'HSCAN', 'HSET', 'LPOP', 'LPOS', 'LPUSH', 'LPUSHX',
    'PFADD', 'PFCOUNT', 'PFMERGE', 'RESTORE', 'RPOP', 'RPUSH', 'RPUSHX', 'SADD', 'SDIFF', 'SDIFFSTORE', 'SET', 'SINTER', 'SINTERSTORE',
    'SMISMEMBER', 'SORT', 'SPOP', 'SRANDMEMBER', 'SREM', 'SSCAN', 'SUNION', 'SUNIONSTORE', 'ZADD', 'ZDIFF', 'ZDIFFSTORE', 'ZINTER',
    'ZINTERSTORE', 'ZMSCORE', 'ZPOPMAX', 'ZPOPMIN', 'ZRANDMEMBER', 'ZRANGE', 'ZRANGEBYLEX', 'ZRANGEBYSCORE', 'ZRANGESTORE', 'ZREM',
    'ZREVRANGE', 'ZREVRANGEBYLEX', 'ZREVRANGEBYSCORE', 'ZSCAN', 'ZUNION', 'ZUNIONSTORE',
  ],
  argx: ['DEL', 'MGET', 'TOUCH', 'UNLINK'],
  argkvx: ['MSET'],
  argeval: ['EVAL', 'EVALSHA'],
  nokey: ['LOLWUT'],
};

/** Command name (upper case) -> nutcracker's argument class. A name not here is not supported. */
export const NUTCRACKER_COMMANDS: ReadonlyMap<string, ArgClass> = new Map(
  (Object.entries(CLASSES) as Array<[ArgClass, string[]]>).flatMap(([cls, names]) => names.map((n) => [n, cls] as const)),
);

/**
 * Whether nutcracker's parser accepts this many arguments (after the name) for the class; when not, why.
 * EVAL's numkeys must be digits and at least 1 (nc_redis.c SW_ARG2).
 */
export function arityProblem(cls: ArgClass, args: Buffer[]): string | null {
  const n = args.length;
  switch (cls) {
    case 'argz':
      return n === 0 ? null : `twemproxy accepts it only with no arguments (this call has ${n})`;
    case 'nokey':
      return null;
    case 'arg0':
    case 'arg1':
    case 'arg2':
    case 'arg3': {
      const want = Number(cls.slice(3)) + 1;
      return n === want ? null : `twemproxy accepts it only with exactly ${want} argument${want === 1 ? '' : 's'} (this call has ${n})`;
    }
    case 'argn':
    case 'argx':
      return n >= 1 ? null : 'twemproxy needs a key';
    case 'argkvx':
      return n >= 2 && n % 2 === 0 ? null : 'twemproxy needs key value pairs';
    case 'argeval': {
      if (n < 3) return 'twemproxy needs at least one key (numkeys 0, or no key, closes the connection)';
      const numkeys = args[1]!.toString('latin1');
      if (!/^[0-9]+$/.test(numkeys) || Number(numkeys) === 0) return `twemproxy needs numkeys of at least 1 (this call has "${numkeys}")`;
      return null;
    }
  }
}

/** The keys of a call, for commands nutcracker routes by one key although the call may name several. */
export interface CallKeys {
  /** The argument nutcracker hashes to pick the shard (usually the first key). */
  routedBy: Buffer;
  /** Every key the command reads or writes. */
  keys: Buffer[];
  /** routedBy is not a key at all (ZUNION's numkeys): a hash tag does not help. */
  routedByNonKey?: boolean;
  /** Keys the call reads that cannot be listed from the arguments (SORT BY/GET patterns). */
  unlistedKeys?: boolean;
}

const ALL_ARGS_ARE_KEYS = new Set(['EXISTS', 'SDIFF', 'SINTER', 'SUNION', 'SDIFFSTORE', 'SINTERSTORE', 'SUNIONSTORE', 'PFCOUNT', 'PFMERGE']);
const TWO_KEYS = new Set(['SMOVE', 'RPOPLPUSH', 'LMOVE', 'COPY', 'ZRANGESTORE', 'GEOSEARCHSTORE']);

/**
 * The keys of a call whose command can name more than one key and that nutcracker sends whole to the shard
 * of one argument. null for single-key commands and for the ones nutcracker splits per key (argx, argkvx).
 */
export function multiKeyCall(name: string, args: Buffer[]): CallKeys | null {
  const up = (b: Buffer | undefined) => (b ?? Buffer.alloc(0)).toString('latin1').toUpperCase();
  if (ALL_ARGS_ARE_KEYS.has(name)) return { routedBy: args[0]!, keys: args };
  if (TWO_KEYS.has(name)) return { routedBy: args[0]!, keys: args.slice(0, 2) };
  if (name === 'ZINTERSTORE' || name === 'ZUNIONSTORE' || name === 'ZDIFFSTORE') {
    const n = Number(args[1]?.toString('latin1'));
    return { routedBy: args[0]!, keys: [args[0]!, ...args.slice(2, 2 + (Number.isInteger(n) ? n : 0))] };
  }
  if (name === 'ZINTER' || name === 'ZUNION' || name === 'ZDIFF') {
    const n = Number(args[0]?.toString('latin1'));
    return { routedBy: args[0]!, keys: args.slice(1, 1 + (Number.isInteger(n) ? n : 0)), routedByNonKey: true };
  }
  if (name === 'EVAL' || name === 'EVALSHA') {
    const n = Number(args[1]?.toString('latin1'));
    return { routedBy: args[2]!, keys: args.slice(2, 2 + n) };
  }
  if (name === 'GEORADIUS' || name === 'GEORADIUSBYMEMBER') {
    const keys = [args[0]!];
    args.forEach((a, i) => {
      if ((up(a) === 'STORE' || up(a) === 'STOREDIST') && args[i + 1]) keys.push(args[i + 1]!);
    });
    return { routedBy: args[0]!, keys };
  }
  if (name === 'SORT') {
    const keys = [args[0]!];
    let unlisted = false;
    args.forEach((a, i) => {
      const next = args[i + 1];
      if (i === 0 || next === undefined) return;
      if (up(a) === 'STORE') keys.push(next);
      // BY nosort-pattern (no "*") reads nothing; GET # is the element itself.
      if ((up(a) === 'BY' || up(a) === 'GET') && next.includes('*')) unlisted = true;
    });
    return { routedBy: args[0]!, keys, ...(unlisted ? { unlistedKeys: true } : {}) };
  }
  return null;
}

/** Why an unsupported command is not there, and what to do instead; by name, then a generic answer. */
const UNSUPPORTED_HINTS: Array<{ names: string[]; why: string; fix: string }> = [
  {
    names: ['HELLO', 'CLIENT', 'SELECT', 'ECHO', 'RESET', 'READONLY', 'READWRITE', 'ASKING'],
    why: 'a connection-level command, often sent by the client library itself while connecting',
    fix: 'client settings that do not send it (RESP2, no client name/info, no ready check): docs/clients.md',
  },
  {
    names: ['INFO', 'CONFIG', 'DBSIZE', 'FLUSHALL', 'FLUSHDB', 'SAVE', 'BGSAVE', 'BGREWRITEAOF', 'LASTSAVE', 'TIME', 'SLOWLOG', 'LATENCY',
      'MEMORY', 'DEBUG', 'SHUTDOWN', 'SLAVEOF', 'REPLICAOF', 'ROLE', 'MONITOR', 'SYNC', 'PSYNC', 'REPLCONF', 'ACL', 'MODULE', 'FAILOVER',
      'SWAPDB', 'CLUSTER', 'COMMAND', 'LOLWUT', 'PFDEBUG', 'PFSELFTEST', 'OBJECT', 'WAIT'],
    why: 'a server-wide command: through a proxy it would answer for one shard only',
    fix: 'send it to each master directly (redis-shard status lists them)',
  },
  {
    names: ['KEYS', 'SCAN', 'RANDOMKEY'],
    why: 'it walks the whole keyspace, which is spread over every shard',
    fix: 'run it on each master directly, or keep an index of your keys in a set',
  },
  {
    names: ['MULTI', 'EXEC', 'DISCARD', 'WATCH', 'UNWATCH', 'SCRIPT', 'FUNCTION', 'FCALL', 'FCALL_RO', 'EVAL_RO', 'EVALSHA_RO'],
    why: 'transactions, script loading and functions keep state on one server, which a proxy over several cannot promise',
    fix: 'EVAL with every key hash-tagged to one shard (proxy.hash_tag) does the same work atomically',
  },
  {
    names: ['SUBSCRIBE', 'PSUBSCRIBE', 'UNSUBSCRIBE', 'PUNSUBSCRIBE', 'PUBLISH', 'PUBSUB', 'SSUBSCRIBE', 'SUNSUBSCRIBE', 'SPUBLISH'],
    why: 'pub/sub needs a connection held to one server',
    fix: 'connect to a master directly for pub/sub',
  },
  {
    names: ['BLPOP', 'BRPOP', 'BRPOPLPUSH', 'BLMOVE', 'BLMPOP', 'BZPOPMIN', 'BZPOPMAX', 'BZMPOP', 'XREAD', 'XREADGROUP'],
    why: 'a blocking command would hold the proxy\'s one connection to the shard',
    fix: 'poll with the non-blocking form (LPOP, ZPOPMIN), or connect to the master directly',
  },
  {
    names: ['RENAME', 'RENAMENX', 'MSETNX', 'BITOP', 'SINTERCARD', 'ZINTERCARD', 'LMPOP', 'ZMPOP', 'LCS', 'MIGRATE'],
    why: 'a multi-key command twemproxy does not implement',
    fix: 'read and write the keys one by one, or keep them on one shard and use EVAL',
  },
];

export function unsupportedHint(name: string): { why: string; fix: string } {
  const h = UNSUPPORTED_HINTS.find((x) => x.names.includes(name));
  if (h) return { why: h.why, fix: h.fix };
  if (name.startsWith('X')) return { why: 'streams are not supported by twemproxy 0.5.0', fix: 'connect to the master that holds the stream directly' };
  return { why: 'not supported by twemproxy 0.5.0', fix: 'connect to the master directly for this command' };
}
