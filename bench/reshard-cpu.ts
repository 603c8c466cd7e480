/**
 * Where the CPU of `bench reshard` goes: runs it (`node dist/cli/main.js bench reshard --keys N --base-port P`),
 * samples every 200 ms the CPU time (/proc/PID/stat utime + stime) of each process of its stack (found by working
 * directory under the bench's temp dir, forks included) and of the bench itself, and prints, per step, the copy
 * phase's CPU by part, per moved key. Linux only. Usage: npm run bench:reshard-cpu [-- KEYS [BASE_PORT]]
 */
import { execSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

const TICK = Number(execSync('getconf CLK_TCK').toString().trim()) || 100;
const keys = process.argv[2] ?? '1000000';
const base = Number(process.argv[3] ?? '25900');
const child = spawn(process.execPath, ['dist/cli/main.js', 'bench', 'reshard', '--keys', keys, '--base-port', String(base)], { stdio: ['ignore', 'pipe', 'pipe'] });

type Sample = { at: number; cpu: Map<number, { part: string; secs: number }> };
const samples: Sample[] = [];
const marks: Array<{ at: number; line: string }> = [];
let out = '';

/** Which part of the stack a process is, from its command line (the bench stack's fixed port layout). */
function partOf(pid: number, cmd: string): string {
  if (pid === child.pid) return 'node, main thread (the copy)';
  const exe = cmd.split(' ')[0]!.split('/').pop()!;
  if (exe === 'nutcracker' || exe === 'haproxy') return 'nutcracker + HAProxy (the client load)';
  if (exe === 'redis-sentinel' || cmd.includes('[sentinel]')) return 'sentinels';
  if (cmd.includes('redis-rdb-to-slaves')) return 'the replicas\' forks writing the snapshots';
  // Redis's default `save` policy (60 s / 10000 changes): a periodic BGSAVE fork, the reshard's writes count too.
  if (cmd.includes('redis-rdb-bgsave') || cmd.includes('redis-aof-rewrite')) return 'periodic BGSAVE / AOF rewrite forks';
  if (exe === 'redis-server') {
    const port = Number(/:([0-9]+)/.exec(cmd)?.[1] ?? NaN);
    return `shard ${port - base < 10 ? 's1' : port - base < 20 ? 's2' : 's3'}'s instances`;
  }
  return cmd.includes(' agent') ? 'the agent' : `other (${exe})`;
}

function sample(): void {
  const cpu = new Map<number, { part: string; secs: number }>();
  for (const d of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(d)) continue;
    const pid = Number(d);
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'latin1').split('\0').join(' ').trim();
      const mine = pid === child.pid || cmd.includes('redis-shard-bench-reshard-') || readlinkSync(`/proc/${d}/cwd`).includes('redis-shard-bench-reshard-');
      if (!mine) continue;
      const secsOf = (stat: string) => {
        const f = readFileSync(stat, 'latin1').split(') ')[1]!.split(' ');
        return (Number(f[11]) + Number(f[12])) / TICK;
      };
      const all = secsOf(`/proc/${d}/stat`);
      if (pid === child.pid) {
        // The main thread apart from the rest: the clients' worker thread, V8's GC helpers, libuv's pool.
        const main = secsOf(`/proc/${d}/task/${d}/stat`);
        cpu.set(pid, { part: partOf(pid, cmd), secs: main });
        cpu.set(-pid, { part: 'node, other threads (the clients\' worker, GC helpers)', secs: all - main });
      } else {
        cpu.set(pid, { part: partOf(pid, cmd), secs: all });
      }
    } catch {
      // gone meanwhile
    }
  }
  samples.push({ at: performance.now(), cpu });
}

const timer = setInterval(sample, 200);
child.stderr!.on('data', (d: Buffer) => {
  for (const line of d.toString().split('\n')) if (line.trim()) marks.push({ at: performance.now(), line: line.trim() });
});
child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
child.on('exit', (code) => {
  clearInterval(timer);
  process.stdout.write(out);
  if (code !== 0) {
    process.stderr.write(marks.map((m) => m.line).join('\n') + '\n');
    process.exit(code ?? 1);
  }
  const starts = marks.filter((m) => m.line === 'phase copying').map((m) => m.at);
  const ends = marks.filter((m) => m.line === 'phase cutting').map((m) => m.at);
  const moved = [...out.matchAll(/^(.*shards): ([0-9]+) keys,/gm)].map((m) => ({ step: m[1]!, keys: Number(m[2]) }));
  starts.forEach((a, i) => {
    const b = ends[i]!;
    const within = samples.filter((s) => s.at >= a && s.at <= b);
    const first = within[0]!;
    const last = within[within.length - 1]!;
    // A process's CPU in the window: its last sample in it minus its first (0 when it began inside the window).
    const byPart = new Map<string, number>();
    const seen = new Map<number, { part: string; from: number; to: number }>();
    for (const s of within) {
      for (const [pid, v] of s.cpu) {
        const had = seen.get(pid);
        const from = had?.from ?? (first.cpu.has(pid) ? v.secs : 0);
        seen.set(pid, { part: v.part, from, to: v.secs });
      }
    }
    for (const v of seen.values()) byPart.set(v.part, (byPart.get(v.part) ?? 0) + (v.to - v.from));
    const secs = (last.at - first.at) / 1000;
    const total = [...byPart.values()].reduce((x, y) => x + y, 0);
    const n = moved[i]?.keys ?? 0;
    console.log(`\n${moved[i]?.step ?? `step ${i + 1}`}: copy phase ${secs.toFixed(2)} s, ${total.toFixed(2)} CPU-s (${(total / secs).toFixed(2)} cores), ${((total / n) * 1e6).toFixed(1)} us of CPU per moved key (${n} keys)`);
    for (const [part, c] of [...byPart].sort((x, y) => y[1] - x[1])) {
      console.log(`  ${part.padEnd(52)} ${c.toFixed(2).padStart(6)} s  ${((c / n) * 1e6).toFixed(1).padStart(5)} us/key`);
    }
  });
});
