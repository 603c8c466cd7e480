import { accessSync, constants, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { EnvironmentError } from '../errors.js';

/**
 * The file that says "this folder is the state dir of a redis-shard deployment": written by `up` and by
 * `services install`, required before `down --purge` deletes anything.
 */
export const STATE_MARKER = '.redis-shard-state';

export function hasStateMarker(stateDir: string): boolean {
  return existsSync(join(stateDir, STATE_MARKER));
}

/** Writes the marker unless it is there; returns its path when this call created it (for an undo), else null. */
export function writeStateMarker(stateDir: string): string | null {
  const path = join(stateDir, STATE_MARKER);
  if (existsSync(path)) return null;
  writeFileSync(path, 'state directory of a redis-shard deployment\n');
  return path;
}

/**
 * Creates the state dir (and its marker file) if needed, or says exactly why it cannot: a path that is a file,
 * a read-only file system, no permission, or a file system that does not take new folders (/proc, /sys).
 * Folders are made one level at a time: Node's recursive mkdir loops for ever on /proc/sys/x (mkdir answers
 * ENOENT for a parent that exists), which made `up` spin at 100% CPU.
 */
export function prepareStateDir(dir: string): void {
  const fail = (why: string, cause?: unknown) =>
    new EnvironmentError(`state dir ${dir}: ${why}; set stateDir in the description to a folder you own, or fix it`, { cause });
  const missing: string[] = [];
  let at = dir;
  while (!existsSync(at)) {
    missing.unshift(at);
    const parent = dirname(at);
    if (parent === at) break;
    at = parent;
  }
  if (existsSync(at) && !statSync(at).isDirectory()) {
    throw fail(at === dir ? 'is a file, not a folder' : `${at} is a file, not a folder, so the state dir cannot be made in it`);
  }
  for (const d of missing) {
    try {
      mkdirSync(d);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && statSync(d).isDirectory()) continue; // made by a command running beside us
      throw fail(`cannot create ${d}: ${reason(code, dirname(d))}`, e);
    }
  }
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
    writeStateMarker(dir);
  } catch (e) {
    throw fail(`not writable: ${reason((e as NodeJS.ErrnoException).code, dir)}`, e);
  }
}

/** An errno code as an operator reads it. */
export function reason(code: string | undefined, where: string): string {
  switch (code) {
    case 'EROFS':
      return `${where} is on a read-only file system (EROFS)`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied in ${where} (${code})`;
    case 'ENOTDIR':
      return `a part of ${where} is a file, not a folder (ENOTDIR)`;
    case 'ENOENT':
      // mkdir in a folder that exists answers ENOENT only on file systems that make no folders (/proc, /sys).
      return `${where} does not take new folders (ENOENT: a virtual file system such as /proc or /sys?)`;
    case 'ENOSPC':
      return `no space left on the device of ${where} (ENOSPC)`;
    default:
      return code ?? 'unknown error';
  }
}
