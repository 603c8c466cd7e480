import { existsSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidInputError } from '../../errors.js';
import { commentedDefault, commentedServicesDescription, DEFAULT_FILE_NAME, defaultDeploymentHash, SERVICES_STATE_DIR } from '../../topology/index.js';

const TEMP = /^\/(tmp|var\/tmp|dev\/shm)(\/|$)/;

export function register(program: Command): void {
  program
    .command('init')
    .description(`write the default deployment description, commented, to ${DEFAULT_FILE_NAME} (or FILE)`)
    .argument('[file]', 'where to write it', DEFAULT_FILE_NAME)
    .option('--force', 'overwrite an existing file')
    .option('--services', `make it ready for \`services install\`: state dir ${SERVICES_STATE_DIR}, agent in staging mode`)
    .option('--state-dir <dir>', `with --services: the state dir (absolute, not under /tmp; default ${SERVICES_STATE_DIR})`)
    .action((file: string, opts: { force?: boolean; services?: boolean; stateDir?: string }) => {
      const path = resolve(file);
      if (opts.stateDir !== undefined && !opts.services) throw new InvalidInputError('--state-dir: only with --services');
      let services: string | null = null;
      if (opts.services) {
        // The units name this file and the state dir; systemd's PrivateTmp would hide either under /tmp.
        if (TEMP.test(path)) {
          throw new InvalidInputError(`${file}: is under a temporary folder, which the services' PrivateTmp hides from them; write it elsewhere, e.g. /etc/redis-shard/${DEFAULT_FILE_NAME}`);
        }
        const stateDir = opts.stateDir ?? SERVICES_STATE_DIR;
        if (!stateDir.startsWith('/') || TEMP.test(stateDir) || /[\s"'\\%$;#:]/.test(stateDir)) {
          throw new InvalidInputError(`--state-dir ${JSON.stringify(stateDir)}: expected an absolute path outside /tmp, /var/tmp and /dev/shm, without spaces, quotes or % $ ; # :`);
        }
        // Its own state dir: no built-in deployment of this folder to take over, so a new deployment's hash.
        services = commentedServicesDescription(stateDir);
      }
      if (existsSync(path) && !opts.force) {
        throw new InvalidInputError(`${file}: already exists; pass --force to overwrite it`);
      }
      // The file takes over from the built-in default in this folder: if that deployment already runs here,
      // the file states the hash it runs with, so writing the file moves no key.
      const hash = services === null ? defaultDeploymentHash(dirname(path)) : { hash: '', source: 'new' as const };
      const text = services ?? commentedDefault(hash.hash);
      try {
        writeFileSync(path, text, { flag: opts.force ? 'w' : 'wx' });
      } catch (e) {
        throw new InvalidInputError(`${file}: cannot write: ${(e as Error).message}`, { cause: e });
      }
      process.stdout.write(
        `wrote ${path}${hash.source === 'new' ? '' : ` (hash ${hash.hash}, kept from the deployment already in ${dirname(path)}: another hash would move its keys)`}\n`,
      );
      if (opts.services) process.stdout.write(`next: redis-shard -c ${path} services install   (it checks everything it needs first and names each fix)\n`);
    });
}
