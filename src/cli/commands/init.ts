import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidInputError } from '../../errors.js';
import { COMMENTED_DEFAULT, DEFAULT_FILE_NAME } from '../../topology/index.js';

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
      try {
        writeFileSync(path, COMMENTED_DEFAULT, { flag: opts.force ? 'w' : 'wx' });
      } catch (e) {
        throw new InvalidInputError(`${file}: cannot write: ${(e as Error).message}`, { cause: e });
      }
      process.stdout.write(`wrote ${path}\n`);
    });
}
