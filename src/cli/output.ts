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
