import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, watch, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigApplier } from '../../src/agent/index.js';
import { renderNutcrackerYml } from '../../src/render/index.js';
import { isAlive } from '../../src/runtime/index.js';
import { loadTopology } from '../../src/topology/index.js';
import { testDescription } from '../support/stack.js';

// No ports are listened on here (13200-13299 reserved for this file in the descriptions only).
const BASE = 13200;
const ROUNDS = 6;
const FIXTURE = resolve(import.meta.dirname, 'agent-apply-writer.fixture.ts');

describe("a crash while the agent writes nutcracker.yml", () => {
  const dir = mkdtempSync(join(tmpdir(), 'redis-shard-agent-atomic-'));
  const children: number[] = [];
  afterAll(() => {
    for (const pid of children) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('never leaves a partial file: after each kill -9 it holds one whole version', async () => {
    const file = join(dir, 'redis-shard.yml');
    writeFileSync(file, stringify(testDescription(BASE, { agent: { apply: 'staging' } })));
    const topo = loadTopology({ config: file });
    // Two valid configs, large enough (~400 KB of comments) that a write takes long enough to be interrupted.
    const pad = (tag: string) => Array.from({ length: 6000 }, (_, i) => `# ${tag} padding line ${i} ${'x'.repeat(50)}`).join('\n');
    const a = `${pad('A')}\n${renderNutcrackerYml(topo, {}, null)}`;
    const b = `${pad('B')}\n${renderNutcrackerYml(topo, { s1: `127.0.0.1:${BASE + 1}` }, null)}`;
    writeFileSync(join(dir, 'a.yml'), a);
    writeFileSync(join(dir, 'b.yml'), b);
    mkdirSync(dirname(topo.stagingFile), { recursive: true });
    writeFileSync(topo.stagingFile, a);

    let interrupted = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, file, join(dir, 'a.yml'), join(dir, 'b.yml')], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child.pid!);
      let err = '';
      child.stderr.on('data', (d) => (err += String(d)));
      await new Promise<void>((res, rej) => {
        child.stdout.on('data', (d) => String(d).includes('ready') && res());
        child.once('exit', (code) => rej(new Error(`writer exited (${code}) before ready: ${err}`)));
      });
      // Kill it without warning the moment it starts one of its next writes (its temp file appears), or after
      // 300 ms if that is missed: most kills land while a write is in flight.
      const skip = Math.floor(Math.random() * 3);
      let seen = 0;
      const exited = new Promise((r) => child.once('exit', r));
      await new Promise<void>((res) => {
        const kill = () => {
          watcher.close();
          clearTimeout(timer);
          try {
            process.kill(child.pid!, 'SIGKILL');
          } catch {
            /* already gone */
          }
          res();
        };
        const watcher = watch(dirname(topo.stagingFile), (_ev, name) => {
          if (name?.endsWith('.tmp') && seen++ >= skip) kill();
        });
        const timer = setTimeout(kill, 300);
      });
      await exited;
      const now = readFileSync(topo.stagingFile, 'utf8');
      expect(now === a || now === b, `round ${round}: staging file is neither version (${now.length} bytes)`).toBe(true);
      if (readdirSync(dirname(topo.stagingFile)).some((n) => n.endsWith('.tmp'))) interrupted++;
    }
    expect(interrupted, 'no kill landed while a write was in flight').toBeGreaterThan(0);
    process.stdout.write(`kills that left a temp file behind (a write in flight): ${interrupted} of ${ROUNDS}\n`);
    // A new applier (an agent restarting) removes the temp files of dead writers.
    new ConfigApplier(topo, null, null);
    expect(readdirSync(dirname(topo.stagingFile)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});
