import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * Writes a file so that readers see either the old content or the whole new content, never a part:
 * a temp file in the same folder, fsynced, renamed over the target, and the folder fsynced.
 */
export function atomicWriteFile(path: string, text: string, opts: { mode?: number } = {}): void {
  atomicWriteFiles([{ path, text, ...opts }]);
}

/**
 * Several files written as atomicWriteFile writes each, with every temp file written and fsynced before the first
 * rename: the renames follow one another within microseconds, so a crash leaves at most a moment's worth of the
 * files new and the rest old (a reshard's cut writes every proxy's config this way). Each file is all old or
 * all new; the renames go in the order given.
 */
export function atomicWriteFiles(files: Array<{ path: string; text: string; mode?: number }>): void {
  const temps: Array<{ tmp: string; path: string }> = [];
  try {
    for (const f of files) {
      const dir = dirname(f.path);
      mkdirSync(dir, { recursive: true });
      const tmp = join(dir, `.${basename(f.path)}.${process.pid}.${Date.now()}.tmp`);
      const fd = openSync(tmp, 'wx', f.mode ?? 0o644);
      temps.push({ tmp, path: f.path });
      try {
        writeSync(fd, f.text);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
  } catch (e) {
    for (const t of temps) {
      try {
        unlinkSync(t.tmp);
      } catch {
        /* already gone */
      }
    }
    throw e;
  }
  for (const [i, t] of temps.entries()) {
    try {
      renameSync(t.tmp, t.path);
    } catch (e) {
      for (const u of temps.slice(i)) {
        try {
          unlinkSync(u.tmp);
        } catch {
          /* already gone */
        }
      }
      throw e;
    }
  }
  for (const dir of new Set(temps.map((t) => dirname(t.path)))) {
    try {
      const dfd = openSync(dir, 'r');
      fsyncSync(dfd);
      closeSync(dfd);
    } catch {
      // Some filesystems refuse fsync on a directory; the rename is still atomic there.
    }
  }
}
