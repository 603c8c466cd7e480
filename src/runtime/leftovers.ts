import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ourPid } from './process.js';
import { stopPid } from './stop.js';

/** Any pid file under the state dir whose process is still ours: stopped, by PID (the last safety net of a teardown). */
export async function stopLeftovers(stateDir: string): Promise<void> {
  const pidFiles: string[] = [];
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const name of names) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.pid')) pidFiles.push(p);
    }
  };
  walk(stateDir);
  for (const f of pidFiles) {
    const pid = ourPid(f, stateDir);
    if (pid !== null) await stopPid(pid, { graceMs: 2000 });
  }
}
