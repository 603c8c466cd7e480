/**
 * Text for the failover commands: `failover-test`'s narrative (the original test.sh's wording) rendered from the
 * events ops/failover-test.ts emits, and the one-line descriptions of probes and agent timings.
 */
import { FAILURE_KINDS, FAILURE_LABELS, type ProbeReport } from '../ops/client-probe.js';
import type { AgentTimings } from '../ops/failover-observe.js';
import type { FailoverTestEvent } from '../ops/failover-test.js';

const sp = (addr: string) => addr.replace(/:(\d+)$/, ' $1');

/** Renders one event as the text to write (lines end with "\n"; a case header and its dots do not). */
export function renderFailoverEvent(e: FailoverTestEvent): string {
  switch (e.type) {
    case 'stack':
      return `Stack behind ${e.proxy}: ${e.masters.map((m, i) => `shard ${i + 1} (${m.shard}) master ${sp(m.master)}`).join(', ')}\n`;
    case 'loaded':
      return `Data loaded (${e.keys} keys in ${e.ms} ms)\n`;
    case 'case':
      return e.n === 1 ? `\nTest case 1 : ${e.title}:\n` : `\nTest case ${e.n} : ${e.title}: `;
    case 'case-skipped':
      return `\nTest case ${e.n} : ${e.title}: skipped (${e.why})\n`;
    case 'tick':
      return '.';
    case 'new-masters':
      return `\n${
        e.masters.length === 1
          ? `New master is ${sp(e.masters[0]!.master)}\n`
          : e.masters.map((m) => `New master of shard ${m.shardNumber} is ${sp(m.master)}\n`).join('')
      }`;
    case 'data': {
      const c = e.check;
      return c.present === c.count
        ? `Redis OK (${c.count} items all existed)\n`
        : `Redis FAILED (${c.present} of ${c.count} items existed: ${c.missing} missing, ${c.wrong} with another value, ${c.errors} unreadable)\n`;
    }
    case 'restarted':
      return `Restarted ${e.instances.map((i) => `${sp(i.addr)} (a replica of ${sp(i.replicaOf ?? '?')})`).join(', ')}\n`;
    case 'case-failed':
      return `\nFAILED: ${e.error}\n${e.sentinels.map((l) => `  ${l}\n`).join('')}  agent events: ${e.eventsFile}\n`;
    case 'restart-failed':
      return `restart failed: ${e.error}\n`;
    case 'round': {
      const out: string[] = [];
      for (const s of e.round.shards) {
        out.push(`  ${describeProbe(s.write)}`);
        if (s.writesRefused) {
          out.push(`  (${s.shard} was left with one live instance: its master refused writes with NOREPLICAS until a killed instance was back as its replica, as redis.minReplicasToWrite ${e.minReplicasToWrite} asks)`);
        }
        if (s.read) out.push(`  ${describeProbe(s.read)}`);
      }
      for (const b of e.round.bystanders) out.push(`  ${describeProbe(b)}`);
      for (const s of e.round.shards) out.push(`  agent: ${s.agent ? describeAgent(s.agent) : 'no failover-timings record in the agent events file'}`);
      for (const s of e.round.shards) {
        if (s.proxies) out.push(`  ${s.shard}: every proxy sends its writes to ${s.newMaster}: ${s.proxies.map((p) => `${p.listen} ${formatMs(p.followedMs)} after the kill`).join(', ')}`);
      }
      for (const f of e.failovers) {
        const stable = f.epochLater === f.epochAfter;
        out.push(
          `  ${f.shard}: failover complete ${formatMs(f.completedMs)} after the kill; ${f.seen} failover${f.seen === 1 ? '' : 's'} seen ` +
            `(config-epoch ${f.epochBefore ?? '?'} -> ${f.epochAfter ?? '?'}${stable ? ', unchanged since' : `, then ${f.epochLater ?? '?'}: another failover followed`})`,
        );
      }
      return out.map((l) => `${l}\n`).join('');
    }
    case 'sharding': {
      const { data, placement } = e;
      const head = '\nTest case 6 : check sharding is working (key only appear in one shard)\n';
      const verdict = e.ok
        ? 'OK'
        : `FAILED: ${data.misplaced} keys on a shard the ring does not predict, ${placement.onSeveralShards} on several shards, ` +
          `${placement.incomplete} missing from a replica of their shard, ${placement.nowhere} nowhere` +
          (placement.unreachable.length ? `; no answer from ${placement.unreachable.join(', ')}` : '');
      const per = placement.perShard.map((s) => `  ${s.name}: ${s.instances.map((i) => `${sp(i.addr)} ${i.keys}`).join(', ')} keys\n`).join('');
      return `${head}${verdict}\n${per}`;
    }
    case 'cleanup':
      return `\nRemove test data\n${e.error !== null ? `could not remove the test data: ${e.error}\n` : ''}`;
  }
}

/** "1.62 s" / "85 ms". */
export function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

/** Seconds relative to the kill, signed; a last success a fraction of a millisecond before it reads "+0.00". */
function sec(ms: number): string {
  const t = (ms / 1000).toFixed(2);
  return t.startsWith('-') && Number(t) !== 0 ? t : `+${t.replace(/^-/, '')}`;
}

/**
 * One line for a report: "writes s1: longest gap 1.62 s (+0.00 .. +1.62 s after the kill); failed: 3 connection
 * refused/dropped (+1.41 .. +1.45 s), 912 proxy could not reach the shard (+0.00 .. +1.40 s)".
 */
export function describeProbe(r: ProbeReport, label = r.name): string {
  const where =
    r.gapFromMs === null
      ? ''
      : r.open
        ? ` (no success since ${sec(r.gapFromMs)} s, until the window closed)`
        : ` (${sec(r.gapFromMs)} .. ${sec(r.gapToMs!)} s after the kill)`;
  const fails = FAILURE_KINDS.filter((k) => r.failures[k]).map((k) => {
    const f = r.failures[k]!;
    return `${f.count} ${FAILURE_LABELS[k]} (${sec(f.firstMs)} .. ${sec(f.lastMs)} s)`;
  });
  const more = r.outages > 1 ? ` (${r.outages} outages, ${formatMs(r.outageMs)} in all)` : '';
  return `${label}: longest gap ${formatMs(r.longestGapMs)}${where}${more}; ${r.successes} ok${fails.length ? `, failed: ${fails.join(', ')}` : ', none failed'}`;
}

/** "s1 127.0.0.1:6666 -> 127.0.0.1:6668, fast path: proxy serving the new master 270 ms before the first +switch-master". */
export function describeAgent(t: AgentTimings): string {
  const rel = (v: number | null) =>
    v === null ? 'n/a' : v < 0 ? `${Math.round(-v)} ms before the first +switch-master` : `${Math.round(v)} ms after the first +switch-master`;
  const abs = (v: number | null) => (v === null ? 'n/a' : `${Math.round(v)} ms`);
  return (
    `${t.shard} ${t.from ?? '?'} -> ${t.to ?? '?'} (${t.path ?? 'not applied'} path): proxy serving the new master ${rel(t.servingMs)}` +
    `; +odown -> serving ${abs(t.odownToServingMs)}, promotion seen -> serving ${abs(t.promotedToServingMs)}`
  );
}

