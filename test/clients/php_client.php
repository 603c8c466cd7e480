<?php
// One client of the matrix (test/integration/clients.test.ts); see python_client.py for the protocol.
[$_, $mode, $port, $jobFile] = $argv;
$job = json_decode(file_get_contents($jobFile), true);
function out($a) { echo json_encode($a), "\n"; fflush(STDOUT); }
$version = phpversion('redis');

if ($mode === 'defaults') {
  try {
    $r = new Redis();
    $r->connect('127.0.0.1', (int)$port);
    $r->set($job['keyA'], 'defaults');
    out(['ok' => true, 'version' => $version]);
  } catch (Throwable $e) {
    out(['ok' => false, 'error' => get_class($e) . ': ' . $e->getMessage(), 'version' => $version]);
  }
  exit(0);
}

$connect = function () use ($port) {
  $r = new Redis();
  $r->connect('127.0.0.1', (int)$port, 2.0);
  $r->setOption(Redis::OPT_READ_TIMEOUT, 2.0);
  // A connection the proxy dropped (it restarts to follow a failover) is reopened before the next command,
  // retrying the connect for up to ~1 s.
  $r->setOption(Redis::OPT_MAX_RETRIES, 20);
  $r->setOption(Redis::OPT_BACKOFF_ALGORITHM, Redis::BACKOFF_ALGORITHM_CONSTANT);
  $r->setOption(Redis::OPT_BACKOFF_BASE, 50);
  $r->setOption(Redis::OPT_BACKOFF_CAP, 50);
  return $r;
};
$r = $connect();
$b = $job['basic'];
$r->set($b['key'], 'v1');
$got = $r->get($b['key']);
$pipe = $r->pipeline()->set($b['pipeKey'], 'p1')->incr($b['counter'])->get($b['pipeKey'])->exec();
$m = []; foreach ($b['mkeys'] as $k) { $m[$k] = "m-$k"; }
$r->mSet($m);
$mget = $r->mGet($b['mkeys']);
$r->del($b['tagged']); $r->sAdd($b['tagged'][0], 'x'); $r->sAdd($b['tagged'][1], 'y');
$union = $r->sUnion($b['tagged'][0], $b['tagged'][1]); sort($union);
out(['basic' => ['get' => $got, 'pipeline' => $pipe, 'mget' => $mget, 'union' => $union, 'version' => $version]]);

$i = 0;
while (!file_exists($job['stopFile'])) {
  $i++;
  foreach (['A', 'B'] as $shard) {
    $t = microtime(true) * 1000;
    try {
      // php-redis returns false for an error reply (the proxy's "-ERR Connection refused"); only a lost
      // connection throws.
      if ($r->set($job['key' . $shard], (string)$i) === true) {
        out(['s' => $shard, 't' => $t, 'ok' => true]);
      } else {
        out(['s' => $shard, 't' => $t, 'ok' => false, 'e' => 'error reply: ' . substr((string)$r->getLastError(), 0, 180)]);
        $r->clearLastError();
      }
    } catch (Throwable $e) {
      out(['s' => $shard, 't' => $t, 'ok' => false, 'e' => substr(get_class($e) . ': ' . $e->getMessage(), 0, 200)]);
      // php-redis 5.3 keeps failing ("went away") on a connection it lost; the application opens a new one.
      if (!$r->isConnected()) { try { $r = $connect(); } catch (Throwable $_) {} }
    }
  }
  usleep(5000);
}
