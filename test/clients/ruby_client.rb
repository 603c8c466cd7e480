# One client of the matrix (test/integration/clients.test.ts); see python_client.py for the protocol.
require 'json'
require 'redis'
mode, port, job = ARGV[0], ARGV[1].to_i, JSON.parse(File.read(ARGV[2]))
$stdout.sync = true
def out(h) = puts(JSON.generate(h))

if mode == 'defaults'
  begin
    Redis.new(host: '127.0.0.1', port: port).set(job['keyA'], 'defaults')
    out(ok: true, version: Redis::VERSION)
  rescue => e
    out(ok: false, error: "#{e.class}: #{e.message}", version: Redis::VERSION)
  end
  exit 0
end

# Retry a command on a dropped or refused connection for up to about a second (the proxy restarts, in
# milliseconds, when it follows a failover).
r = Redis.new(host: '127.0.0.1', port: port, timeout: 2, reconnect_attempts: 6, reconnect_delay: 0.02, reconnect_delay_max: 0.5)
b = job['basic']
r.set(b['key'], 'v1')
got = r.get(b['key'])
pipe = r.pipelined { |p| p.set(b['pipeKey'], 'p1'); p.incr(b['counter']); p.get(b['pipeKey']) }
r.mset(*b['mkeys'].flat_map { |k| [k, "m-#{k}"] })
mget = r.mget(*b['mkeys'])
r.del(*b['tagged']); r.sadd?(b['tagged'][0], 'x'); r.sadd?(b['tagged'][1], 'y')
union = r.sunion(*b['tagged']).sort
out(basic: { get: got, pipeline: pipe, mget: mget, union: union, version: Redis::VERSION })

i = 0
until File.exist?(job['stopFile'])
  i += 1
  %w[A B].each do |shard|
    t = Process.clock_gettime(Process::CLOCK_REALTIME, :float_millisecond)
    begin
      r.set(job["key#{shard}"], i.to_s)
      out(s: shard, t: t, ok: true)
    rescue => e
      out(s: shard, t: t, ok: false, e: "#{e.class}: #{e.message}"[0, 200])
    end
  end
  sleep 0.005
end
