import { describe, expect, it } from 'vitest';
import { CliTimeoutError, runCli } from '../support/stack.js';

// No ports: these runs start nothing.
describe('runCli, the integration tests\' way of running the built CLI', () => {
  it('a CLI killed for running past the limit is reported as a timeout, not as an exit code', async () => {
    // `status` on a description-less default deployment would wait on sockets; 1 ms is shorter than node's start.
    await expect(runCli(['status'], { timeoutMs: 1 })).rejects.toThrow(CliTimeoutError);
    await expect(runCli(['status'], { timeoutMs: 1 })).rejects.toThrow(/did not finish within 1 ms and was killed \(SIGKILL\)/);
  });

  it('an ordinary failure is its exit code', async () => {
    const r = await runCli(['no-such-command']);
    expect(r.code).not.toBe(0);
    expect(r.signal ?? null).toBeNull();
  });
});
