"""One client of the matrix (test/integration/clients.test.ts). argv: MODE PORT JOB.json
MODE defaults: connect as the library does by default, one SET; prints {"ok": bool, "error": str}.
MODE works: the settings docs/clients.md gives; basic operations, then SETs to two shards until JOB's stop
file exists; prints one JSON line per result."""
import json, os, sys, time
import redis

mode, port, job = sys.argv[1], int(sys.argv[2]), json.load(open(sys.argv[3]))
major = int(redis.__version__.split('.')[0])

def out(**kw):
    print(json.dumps(kw), flush=True)

if mode == 'defaults':
    try:
        r = redis.Redis(host='127.0.0.1', port=port, socket_timeout=5)
        r.set(job['keyA'], 'defaults')
        out(ok=True, version=redis.__version__)
    except Exception as e:
        out(ok=False, error=f'{type(e).__name__}: {e}', version=redis.__version__)
    sys.exit(0)

# The settings that work through twemproxy. 5+: RESP2 (no HELLO 3) and no CLIENT SETINFO. Every version:
# retry a command on a dropped or refused connection, for up to about a second (the proxy restarts, in
# milliseconds, when it follows a failover). ConnectionRefusedError: 4.x does not retry a refused reconnect
# without it.
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.exceptions import ConnectionError as RConnectionError, TimeoutError as RTimeoutError
opts = dict(host='127.0.0.1', port=port, socket_timeout=2, retry=Retry(ExponentialBackoff(cap=0.5, base=0.02), 6), retry_on_error=[RConnectionError, RTimeoutError, ConnectionRefusedError])
if major >= 5:
    opts.update(protocol=2)
    if major >= 7:
        opts.update(driver_info=None)
    else:
        opts.update(lib_name=None, lib_version=None)
r = redis.Redis(**opts)

b = job['basic']
r.set(b['key'], 'v1')
got = r.get(b['key']).decode()
p = r.pipeline(transaction=False)
p.set(b['pipeKey'], 'p1'); p.incr(b['counter']); p.get(b['pipeKey'])
pipe = [x.decode() if isinstance(x, bytes) else x for x in p.execute()]
r.mset({k: f'm-{k}' for k in b['mkeys']})
mget = [x.decode() for x in r.mget(b['mkeys'])]
r.delete(*b['tagged']); r.sadd(b['tagged'][0], 'x'); r.sadd(b['tagged'][1], 'y')
union = sorted(x.decode() for x in r.sunion(b['tagged']))
out(basic=dict(get=got, pipeline=pipe, mget=mget, union=union, version=redis.__version__))

i = 0
while not os.path.exists(job['stopFile']):
    i += 1
    for shard in ('A', 'B'):
        t = time.time() * 1000
        try:
            r.set(job['key' + shard], str(i))
            out(s=shard, t=t, ok=True)
        except Exception as e:
            out(s=shard, t=t, ok=False, e=f'{type(e).__name__}: {e}'[:200])
    time.sleep(0.005)
