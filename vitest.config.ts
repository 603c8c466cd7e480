import { defineConfig } from 'vitest/config';

// Integration tests start real redis-server, redis-sentinel and nutcracker processes; on a 2-core machine
// running many such stacks at once makes Sentinel's timers (and so the tests) unreliable, so files run
// one at a time and each test file owns its own port range.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
