import { existsSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidInputError } from '../../errors.js';
import { commentedDefault, DEFAULT_FILE_NAME, defaultDeploymentHash } from '../../topology/index.js';

export function register(program: Command): void {
  program
    .command('init')
    .description(`write the default deployment description, commented, to ${DEFAULT_FILE_NAME} (or FILE)`)
    .argument('[file]', 'where to write it', DEFAULT_FILE_NAME)
    .option('--force', 'overwrite an existing file')
    .action((file: string, opts: { force?: boolean }) => {
      const path = resolve(file);
      if (existsSync(path) && !opts.force) {
        throw new InvalidInputError(`${file}: already exists; pass --force to overwrite it`);
      }
      // The file takes over from the built-in default in this folder: if that deployment already runs here,
      // the file states the hash it runs with, so writing the file moves no key.
      const hash = defaultDeploymentHash(dirname(path));
      try {
        writeFileSync(path, commentedDefault(hash.hash), { flag: opts.force ? 'w' : 'wx' });
      } catch (e) {
        throw new InvalidInputError(`${file}: cannot write: ${(e as Error).message}`, { cause: e });
      }
      process.stdout.write(
        `wrote ${path}${hash.source === 'new' ? '' : ` (hash ${hash.hash}, kept from the deployment already in ${dirname(path)}: another hash would move its keys)`}\n`,
      );
    });
}
