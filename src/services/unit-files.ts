import { chmodSync, closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { atomicWriteFile } from '../runtime/index.js';
import { MARKER, type UnitFile } from './units.js';

/** Unit files on disk: which are ours (they carry the marker), and writing a set of them all or nothing. */

export function isOurs(file: string): boolean {
  try {
    return readFileSync(file, 'utf8').startsWith(MARKER);
  } catch {
    return false;
  }
}

/**
 * Every unit goes to a temp file first; only when all are written and fsynced are they renamed into place, so a
 * full disk or a read-only folder leaves the old set, not a mix. Undo puts back what was there before.
 */
export function writeUnitsAtomically(dest: string, units: UnitFile[], undo: Array<() => void>): string[] {
  const temps: Array<{ tmp: string; path: string; previous: string | null }> = [];
  undo.push(() => temps.forEach((t) => rmSync(t.tmp, { force: true })));
  for (const u of units) {
    const path = join(dest, u.name);
    const tmp = join(dest, `.${u.name}.${process.pid}.tmp`);
    const previous = existsSync(path) ? readFileSync(path, 'utf8') : null;
    temps.push({ tmp, path, previous });
    const fd = openSync(tmp, 'w', 0o644);
    try {
      writeSync(fd, u.text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, 0o644);
  }
  const done: typeof temps = [];
  undo.push(() => {
    for (const t of done.reverse()) {
      if (t.previous === null) rmSync(t.path, { force: true });
      else atomicWriteFile(t.path, t.previous, { mode: 0o644 });
    }
  });
  for (const t of temps) {
    renameSync(t.tmp, t.path);
    done.push(t);
  }
  fsyncDir(dest);
  return temps.map((t) => t.path);
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    fsyncSync(fd);
    closeSync(fd);
  } catch {
    /* some filesystems refuse it; the renames stand */
  }
}
