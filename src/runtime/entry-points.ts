import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The built file for a module path under dist/ (e.g. "cli/main.js"). Processes we start (the agent, its
 * supervisor) always run the build; when this code itself runs from src/ (tests), dist/ is found beside it.
 */
export function builtEntry(relative: string): string {
  const here = dirname(fileURLToPath(import.meta.url)); // dist/runtime or src/runtime
  const root = dirname(here);
  if (basename(root) === 'dist') return join(root, relative);
  return join(dirname(root), 'dist', relative);
}
