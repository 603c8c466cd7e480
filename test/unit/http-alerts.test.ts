import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const DOCS = resolve(import.meta.dirname, '../../docs');

// Debian's prometheus package ships promtool (scripts/setup.sh --test installs it).
describe('docs/alerts.yml', () => {
  it('passes promtool check rules', async () => {
    const r = await run('promtool', ['check', 'rules', 'alerts.yml'], { cwd: DOCS });
    expect(r.stdout).toMatch(/SUCCESS: 8 rules found/);
  });

  it('passes its unit tests (promtool test rules docs/alerts.test.yml)', async () => {
    // A failing case makes promtool exit 1, which rejects here with its output.
    const r = await run('promtool', ['test', 'rules', 'alerts.test.yml'], { cwd: DOCS });
    expect(r.stdout).toMatch(/SUCCESS/);
  });
});
