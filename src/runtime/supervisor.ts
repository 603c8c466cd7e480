import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, openSync, rmSync } from 'node:fs';
import { atomicWriteFile } from './atomic-write.js';
import { stopPid } from './stop.js';

export interface SupervisorOptions {
  /** argv of the supervised program. */
  command: string[];
  childPidFile: string;
  logFile: string;
}

/**
 * Keeps one child running: restarts it when it dies, after a delay that doubles from 100 ms to 5 s and
 * resets once the child has stayed up for 10 s. SIGTERM/SIGINT stop the child, then the supervisor.
 */
export function runSupervisor(opts: SupervisorOptions): void {
  let child: ChildProcess | null = null;
  let stopping = false;
  let backoff = 100;
  const note = (line: string) => appendFileSync(opts.logFile, `${new Date().toISOString()} supervisor: ${line}\n`);

  const start = () => {
    const fd = openSync(opts.logFile, 'a', 0o640);
    const startedAt = Date.now();
    child = spawn(opts.command[0]!, opts.command.slice(1), { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const again = (why: string) => {
      child = null;
      if (stopping) return finish();
      if (Date.now() - startedAt > 10_000) backoff = 100;
      note(`${why}; restarting in ${backoff} ms`);
      setTimeout(start, backoff);
      backoff = Math.min(backoff * 2, 5000);
    };
    // A failed spawn (ENOENT, EAGAIN) emits 'error' and never 'exit': it must be retried all the same.
    child.once('error', (e) => {
      if (child?.pid === undefined) again(`cannot start ${opts.command[0]}: ${e.message}`);
    });
    if (child.pid !== undefined) atomicWriteFile(opts.childPidFile, `${child.pid}\n`);
    child.once('exit', (code, signal) => again(`child exited (${signal ?? `code ${code}`})`));
  };
  const finish = () => {
    rmSync(opts.childPidFile, { force: true });
    process.exit(0);
  };
  const stop = () => {
    stopping = true;
    const c = child;
    if (c === null || c.pid === undefined) return finish();
    // The agent exits promptly on SIGTERM; one that hangs is SIGKILLed by the one bounded stop, and must not keep
    // the supervisor around forever either way.
    const exited = new Promise((r) => c.once('exit', r));
    void stopPid(c.pid, { graceMs: 5000, exited }).then(finish, finish);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  start();
}
