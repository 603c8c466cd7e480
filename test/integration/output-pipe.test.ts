import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, prepareStack, type TestStack } from '../support/stack.js';

// Ports 21900-21931 belong to this file; nothing is started on them (locate finds no sentinel and says so).
const BASE = 21900;

/** Runs the CLI with stdout a pipe, read as it comes (as `| wc -c` would). */
function runPiped(args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
    child.once('error', reject);
    child.stdin.end(input ?? '');
  });
}

describe('output survives a pipe', () => {
  let s: TestStack;
  beforeAll(() => {
    s = prepareStack(BASE);
  });
  afterAll(async () => {
    await s?.stop();
  });
  const keys = Array.from({ length: 3000 }, (_, i) => `key:${i + 1}`);

  it('locate --json with 3000 keys as arguments: the whole document, which parses', async () => {
    const r = await runPiped(['-c', s.file, 'locate', '--json', '--timeout', '100', ...keys]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(65_536 * 2);
    const doc = JSON.parse(r.stdout) as { keys: Array<{ key: string; shard: string }> };
    expect(doc.keys.map((k) => k.key)).toEqual(keys);
  });

  it('locate - reads keys from stdin, one per line; text output is whole too', async () => {
    const json = await runPiped(['-c', s.file, 'locate', '--json', '--timeout', '100', '-'], `${keys.join('\r\n')}\n\n`);
    expect(json.code, json.stderr).toBe(0);
    const doc = JSON.parse(json.stdout) as { keys: Array<{ key: string; shard: string }> };
    expect(doc.keys.map((k) => k.key)).toEqual(keys);
    const text = await runPiped(['-c', s.file, 'locate', '--timeout', '100', '-'], keys.join('\n'));
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3001);
    expect(lines[3000]).toMatch(/^key:3000 +s[12] /);
    // The same placement as the JSON.
    expect(lines.slice(1).map((l) => l.split(/ +/)[1])).toEqual(doc.keys.map((k) => k.shard));
  });

  it('locate - with an empty stdin says so and exits 2', async () => {
    const r = await runPiped(['-c', s.file, 'locate', '-'], '');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('stdin held no keys');
    expect(r.stdout).toBe('');
  });
});
