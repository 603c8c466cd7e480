/**
 * The status report as text for a terminal: the proxy and sentinels on top, one table per shard, then every
 * problem. `up --foreground` shows the same text as its live view.
 */
import type { Topology } from '../topology/index.js';
import { collectStatus, type InstanceStatus, type ShardStatus, type StatusReport } from '../ops/index.js';
import { formatPercent, renderTable } from './table.js';

export async function statusText(topo: Topology, host?: string): Promise<string> {
  return renderStatusText(await collectStatus(topo, host !== undefined ? { host } : {}));
}

export function renderStatusText(r: StatusReport): string {
  const out: string[] = [];
  for (const p of r.proxies ?? [{ ...r.proxy, agent: r.agent }]) {
    const proxyConf = p.config ? `config ${p.config}` : p.local ? 'config MISSING' : 'config on another host';
    out.push(`proxy      ${p.listen}  ${p.up ? 'up' : `DOWN (${p.error ?? 'no answer'})`}  ${proxyConf}`);
    if (p.haproxy) {
      const h = p.haproxy;
      out.push(`haproxy    ${Object.entries(h.frontends).map(([k, v]) => `${k} ${v}`).join(', ')}  ${h.up ? `up (pid ${h.pid ?? '?'})` : 'DOWN'}`);
    }
    if (p.agent) out.push(`agent      ${p.agent.running ? `running (pid ${p.agent.pid})` : 'NOT RUNNING'}`);
  }
  if (r.reshard) {
    const x = r.reshard;
    const change = [...x.added.map((a) => `+${a}`), ...x.removed.map((d) => `-${d}`)].join(' ') || 'ring settings';
    out.push(`reshard    epoch ${x.epoch} (${change}): phase ${x.phase}, ${x.keysCopied}/${x.plannedKeys} keys copied, ${(x.bytesCopied / 1e6).toFixed(1)} MB${x.lastError ? `; last error: ${x.lastError}` : ''} (redis-shard reshard --resume | --abort)`);
  }
  out.push(`sentinels  ${r.sentinels.map((s) => `${s.addr} ${s.up ? 'up' : `DOWN (${s.error ?? 'no answer'})`}`).join('   ')}`);
  for (const s of r.shards) {
    out.push('');
    out.push(shardHeadline(s, r.sentinels.length));
    out.push(
      renderTable(
        ['', 'instance', 'up', 'role', 'replication', 'lag', 'keys'],
        s.instances.map((i) => [
          i.flagged ? '!' : '',
          i.addr + (i.addr === s.master ? ' *' : ''),
          i.up ? 'up' : 'DOWN',
          i.role ?? '-',
          replicationCell(i),
          lagCell(i),
          i.keys === null ? '' : String(i.keys),
        ]),
        { align: ['left', 'left', 'left', 'left', 'left', 'right', 'right'] },
      ),
    );
  }
  if (r.clientRejections) {
    const c = r.clientRejections;
    out.push(
      '',
      c.connectionsClosed === 0
        ? `clients    no connection closed over an unsupported command in the last ${c.windowMinutes} min`
        : `clients    ${c.connectionsClosed} connection${c.connectionsClosed === 1 ? '' : 's'} closed by the proxy in the last ${c.windowMinutes} min: ${c.commands.map((x) => `${x.command} x${x.count}`).join(', ')} (fix: ${c.fix})`,
    );
  }
  out.push('');
  if (r.healthy) {
    out.push('healthy: every part is up and they all agree');
  } else {
    out.push(`UNHEALTHY: ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}`);
    for (const p of r.problems) out.push(`  ! ${p}`);
  }
  for (const w of r.warnings) out.push(`  warning: ${w}`);
  for (const d of r.drift ?? []) out.push(`drift: ${d}`);
  if ((r.drift ?? []).length > 0) out.push('  (redis-shard drift --apply sets what can be set live, and says what needs a restart)');
  return out.join('\n');
}

function shardHeadline(s: ShardStatus, sentinels: number): string {
  const parts: string[] = [`shard ${s.name}`];
  const agreeing = s.master !== null ? (s.sentinelVotes.find((v) => v.addr === s.master)?.sentinels ?? 0) : 0;
  parts.push(
    s.master !== null
      ? `master ${s.master} (${agreeing}/${sentinels} sentinels)`
      : s.sentinelsAnswering === 0
        ? 'master UNKNOWN (no sentinel answers)'
        : `master UNKNOWN (no majority of ${sentinels} sentinels: ${s.sentinelVotes.map((v) => `${v.addr} x${v.sentinels}`).join(', ')})`,
  );
  if (s.proxies) {
    // Several proxies: each one's target (unknown when its HAProxy is on another host) and reach.
    for (const p of s.proxies) {
      const target = p.target === null ? '?' : `${p.target}${p.agrees === false ? ' (DISAGREES)' : ''}`;
      parts.push(`proxy ${p.listen} -> ${target}${p.reaches === false ? ' GET FAILS' : ''}`);
    }
  } else {
    if (s.proxyTarget !== null) {
      const agree = s.master === null || s.proxyTarget === s.master;
      parts.push(`proxy -> ${s.proxyTarget}${agree ? '' : ' (DISAGREES)'}`);
    }
    if (s.proxyReaches === false) parts.push('GET via proxy FAILS');
  }
  if (s.keys !== null) {
    const share = s.keyShare !== null ? `, ${formatPercent(s.keyShare)}` : '';
    const predicted = s.predictedShare !== null && s.keyShare !== null ? `; ring predicts ${formatPercent(s.predictedShare)}` : '';
    parts.push(`keys ${s.keys}${share}${predicted}`);
  }
  const epoch = epochText(s);
  if (epoch !== '') parts.push(epoch);
  if (s.sentinelFlags.length > 0) parts.push(`sentinel flags: ${s.sentinelFlags.join(',')}`);
  return parts.join('   ');
}

/** The config epoch the sentinels report for the shard: one number when they agree, each one when not. */
function epochText(s: ShardStatus): string {
  const epochs = [...new Set(s.sentinelViews.map((v) => v.configEpoch).filter((e): e is number => e !== null))];
  if (epochs.length === 0) return '';
  return epochs.length === 1 ? `config epoch ${epochs[0]}` : `config epochs ${s.sentinelViews.map((v) => `${v.sentinel} ${v.configEpoch ?? '-'}`).join(' ')}`;
}

function replicationCell(i: InstanceStatus): string {
  if (!i.up) return i.error ?? '';
  if (i.role === 'master') return `${i.replicasOnline ?? 0} replica${i.replicasOnline === 1 ? '' : 's'} online`;
  if (i.role === 'replica') return `of ${i.replicaOf}, link ${i.link}`;
  return '';
}

function lagCell(i: InstanceStatus): string {
  if (i.role !== 'replica') return '';
  const parts: string[] = [];
  if (i.lagSeconds !== null) parts.push(`${i.lagSeconds} s`);
  if (i.lagBytes !== null) parts.push(`${i.lagBytes} B`);
  return parts.join(', ');
}
