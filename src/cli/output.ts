/**
 * What a closed stdout (EPIPE: `status --watch | head`) means. For most commands the reader going away is
 * the end of the output, so the process exits; `up --foreground` turns that off, because it must still stop
 * the stack it started.
 */
export const output = { exitOnEpipe: true };

export function watchStdout(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE' && output.exitOnEpipe) process.exit(0);
  });
}

/**
 * Resolves once everything written so far to `stream` has been handed to the OS. To a pipe Node writes
 * asynchronously once the pipe is full (64 KiB), so a process.exit() right after a large write would cut the
 * output there: `locate --json` with 3000 keys, piped, ended mid-document. An empty write's callback runs
 * after every earlier chunk, in order. A reader that went away (EPIPE) or a stream already closed also ends
 * the wait: there is nobody left to write to.
 */
export function drained(stream: NodeJS.WritableStream & { writableLength?: number; destroyed?: boolean }): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed) return resolve();
    try {
      stream.write('', () => resolve());
    } catch {
      resolve();
    }
  });
}

/** Exits with `code` once stdout and stderr have written everything: the one way out of every command. */
export async function exitWhenFlushed(code: number): Promise<never> {
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  process.exit(code);
}
