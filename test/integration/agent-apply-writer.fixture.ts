// Child process for agent-atomic.test.ts: applies two configs alternately, forever, through the agent's apply
// path (staging mode: check, atomic write; no restart). The test kills it with SIGKILL at random moments.
import { readFileSync } from 'node:fs';
import { ConfigApplier } from '../../src/agent/index.js';
import { loadTopology } from '../../src/topology/index.js';

const [file, a, b] = process.argv.slice(2) as [string, string, string];
const topo = loadTopology({ config: file });
const texts = [readFileSync(a, 'utf8'), readFileSync(b, 'utf8')];
const applier = new ConfigApplier(topo, null, null);
// Both are checked (nutcracker -t) once here, so the loop below is all writing.
for (const t of texts) {
  const c = await applier.check(t);
  if (!c.ok) throw new Error(c.error);
}
process.stdout.write('ready\n');
for (let i = 0; ; i++) {
  const r = await applier.apply(texts[i % 2]!);
  if (!r.ok) {
    process.stderr.write(`apply failed: ${r.error.message}\n`);
    process.exit(1);
  }
}
