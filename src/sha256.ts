import { createHash } from 'node:crypto';

/** Hex sha256 of a text: the identity of a config (what nutcracker runs, what was staged, what was applied). */
export function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}
