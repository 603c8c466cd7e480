import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EnvironmentError, TransientError } from '../errors.js';
import { atomicWriteFile } from '../runtime/index.js';
import { agentPaths, type ApplyMode, type Topology } from '../topology/index.js';
import type { BaseConfig } from './apply.js';
import type { ProxySupervisor, RestartTimings } from './proxy.js';

/**
 * How a written config takes effect, per apply mode (mode haproxy switches HAProxy in apply.ts itself): staging,
 * nothing (a privileged watcher installs it); exec, the configured argv; supervise, a restart of the supervised
 * nutcracker. What took effect is recorded on disk, so a restarted agent (or notify) knows an exec that failed.
 */
export class ModeActivation {
  constructor(
    private readonly topo: Topology,
    private readonly proxy: ProxySupervisor | null,
  ) {}

  private get mode(): ApplyMode {
    return this.topo.agent.apply;
  }

  /** Where the sha256 of the last config that took effect (exec command succeeded, nutcracker restarted) is kept. */
  private get activatedPath(): string {
    return join(agentPaths(this.topo.proxyDir).dir, 'activated.sha');
  }

  /**
   * exec mode: whether the config file has not been activated yet (the command failed, or the writer died
   * between write and command). Recorded on disk so a restarted agent, or notify, knows too.
   */
  needed(base: Pick<BaseConfig, 'sha' | 'problem'>): boolean {
    if (this.mode !== 'exec' || base.problem !== null) return false;
    try {
      return readFileSync(this.activatedPath, 'utf8').trim() !== base.sha;
    } catch {
      return true;
    }
  }

  async activate(path: string, sha: string): Promise<RestartTimings | null> {
    const r = await this.activateMode(path, sha);
    if (this.mode !== 'staging') {
      try {
        atomicWriteFile(this.activatedPath, `${sha}\n`);
      } catch {
        /* only an optimisation for the next activation check */
      }
    }
    return r;
  }

  private async activateMode(path: string, sha: string): Promise<RestartTimings | null> {
    switch (this.mode) {
      case 'staging':
        return null;
      case 'exec':
        await runExec(this.topo.agent.exec!, path);
        return null;
      case 'supervise':
        if (!this.proxy) throw new EnvironmentError('supervise mode without a proxy supervisor');
        return await this.proxy.restart(sha);
      case 'haproxy':
        return null; // applyLocked switches HAProxy itself
    }
  }
}

/** exec mode: argv + config path, no shell, 30 s limit; a non-zero exit is a failed apply (retried). */
function runExec(argv: string[], confPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(argv[0]!, [...argv.slice(1), confPath], { timeout: 30_000, shell: false }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const tail = String(stderr ?? '').trim().split('\n').slice(-3).join(' | ');
      reject(new TransientError(`agent.exec ${argv[0]} failed (${(err as NodeJS.ErrnoException).code ?? err.message})${tail ? `: ${tail}` : ''}`, { cause: err }));
    });
  });
}
