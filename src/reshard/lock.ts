import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { InvalidInputError } from '../errors.js';
import { isAlive } from '../runtime/index.js';
import { reshardDir } from './state.js';

/** One reshard process per state dir: a file created exclusively, holding our PID; a dead owner's is taken over. */
export class ReshardLock {
  private constructor(private readonly path: string) {}

  static take(stateDir: string): ReshardLock {
    const path = join(reshardDir(stateDir), 'lock');
    mkdirSync(dirname(path), { recursive: true });
    for (let i = 0; i < 3; i++) {
      try {
        const fd = openSync(path, 'wx', 0o600);
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        return new ReshardLock(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      let owner = NaN;
      try {
        owner = Number(readFileSync(path, 'utf8').trim());
      } catch {
        continue;
      }
      if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) {
        throw new InvalidInputError(`another reshard process (pid ${owner}) is running on this state dir; two reshards cannot run at once`);
      }
      rmSync(path, { force: true });
    }
    throw new InvalidInputError('cannot take the reshard lock');
  }

  release(): void {
    rmSync(this.path, { force: true });
  }
}
