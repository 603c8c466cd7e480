import { describe, expect, it } from 'vitest';
import { benchRows, parseBenchmarkCsv, shortTestName } from '../../src/ops/bench-throughput.js';
import { keyAt, valueFor } from '../../src/ops/data.js';
import { shortVersion } from '../../src/ops/doctor.js';
import { describeSsLines, parsePortList } from '../../src/ops/ports.js';

const CSV = `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"SET","13605.44","107.911","19.904","127.743","134.143","134.655","134.783"
"GET","27777.78","45.624","4.552","39.967","62.239","62.303","62.303"
"LPUSH (needed to benchmark LRANGE)","33333.34","36.991","23.072","42.655","50.271","50.335","50.335"
"LRANGE_100 (first 100 elements)","11627.91","96.299","19.408","95.807","141.183","143.615","143.743"
`;

describe('redis-benchmark --csv', () => {
  it('parses every test line and skips the header', () => {
    expect(parseBenchmarkCsv(CSV)).toEqual([
      { test: 'SET', rps: 13605.44 },
      { test: 'GET', rps: 27777.78 },
      { test: 'LPUSH (needed to benchmark LRANGE)', rps: 33333.34 },
      { test: 'LRANGE_100 (first 100 elements)', rps: 11627.91 },
    ]);
  });
  it('shortens test names for the table', () => {
    expect(shortTestName('LRANGE_500 (first 500 elements)')).toBe('LRANGE_500');
    expect(shortTestName('LPUSH (needed to benchmark LRANGE)')).toBe('LPUSH (for LRANGE)');
    expect(shortTestName('SET')).toBe('SET');
  });
  it('the ratio is the proxy against the mean of the masters', () => {
    const rows = benchRows([
      { label: 'proxy', addr: 'p', kind: 'proxy', rps: { SET: 50, GET: 30 } },
      { label: 's1', addr: 'a', kind: 'master', rps: { SET: 100, GET: 40 } },
      { label: 's2', addr: 'b', kind: 'master', rps: { SET: 100 } },
    ]);
    expect(rows).toEqual([
      { test: 'SET', name: 'SET', proxy: 50, direct: [100, 100], ratio: 0.5 },
      { test: 'GET', name: 'GET', proxy: 30, direct: [40, null], ratio: 0.75 },
    ]);
  });
});

describe('doctor helpers', () => {
  it('names the processes ss reports', () => {
    const line = 'LISTEN 0 511 127.0.0.1:36402 0.0.0.0:* users:(("redis-server",pid=123,fd=6),("redis-server",pid=123,fd=7))';
    expect(describeSsLines(line)).toBe('redis-server (pid 123)');
    expect(describeSsLines('')).toBeNull();
  });
  it('reads port lists and versions', () => {
    expect(parsePortList('22121,37000-38999\n')).toEqual([[22121, 22121], [37000, 38999]]);
    expect(parsePortList('\n')).toEqual([]);
    expect(shortVersion('Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0')).toBe('7.0.15');
    expect(shortVersion('This is nutcracker-0.5.0')).toBe('0.5.0');
    expect(shortVersion('redis-cli 7.0.15')).toBe('7.0.15');
  });
});

describe('data values', () => {
  it('derive from the key alone, so a check needs no record of the load', () => {
    expect(keyAt('rs:data:', 7)).toBe('rs:data:7');
    expect(valueFor('rs:data:7')).toBe(valueFor('rs:data:7'));
    expect(valueFor('rs:data:7')).not.toBe(valueFor('rs:data:8'));
    expect(valueFor('rs:data:7')).toMatch(/^rs1:[0-9a-f]{40}$/);
  });
});
