// The dashboard: plain browser JavaScript, no build step. It renders what the agent sends over server-sent
// events (/events): the status snapshot (the same report `redis-shard status` prints), requests per second,
// failover rows and agent events. It only reads.
'use strict';

const $ = (sel) => document.querySelector(sel);
const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const failovers = new Map(); // id -> row
const seenRows = new Set();
const WINDOW_S = 300;
const series = { t: [], shards: {} }; // ops/s history for the chart
let chart = null;
let chartShards = [];

function cell(v, cls = '') { return `<td class="${cls}">${esc(v)}</td>`; }

function renderStatus(state) {
  const s = state.status;
  $('#at').textContent = `snapshot ${new Date(state.at).toLocaleTimeString()}`;
  const timedOut = state.sources.filter((x) => x.timedOut);
  $('#sources').innerHTML = timedOut.length
    ? `<span class="badge warn" data-testid="timed-out">timed out: ${timedOut.map((x) => esc(`${x.source} ${x.addr}`)).join(', ')}</span>`
    : '';
  if (!s) {
    $('#health').className = 'badge bad';
    $('#health').textContent = 'NO SNAPSHOT';
    return;
  }
  $('#health').className = `badge ${s.healthy ? 'ok' : 'bad'}`;
  $('#health').textContent = s.healthy ? 'healthy' : `UNHEALTHY: ${s.problems.length} problem${s.problems.length === 1 ? '' : 's'}`;
  $('#proxy').innerHTML = `proxy <b>${esc(s.proxy.listen)}</b> ${s.proxy.up ? '<span class="badge ok">up</span>' : `<span class="badge bad">DOWN (${esc(s.proxy.error ?? 'no answer')})</span>`}` +
    (state.clientConnections !== null ? ` · ${state.clientConnections} client connections` : '') +
    rejectedText(s.clientRejections) +
    (s.agent ? ` · agent ${s.agent.running ? `pid ${s.agent.pid}` : '<b>NOT RUNNING</b>'}` : '');
  $('#sentinels').innerHTML = 'sentinels ' + s.sentinels.map((x) => `<span class="badge ${x.up ? 'ok' : 'bad'}">${esc(x.addr)} ${x.up ? 'up' : `DOWN (${esc(x.error ?? 'no answer')})`}</span>`).join(' ');
  $('#problems').innerHTML = s.problems.map((p) => `<li>${esc(p)}</li>`).join('') +
    (s.warnings ?? []).map((w) => `<li class="warning">${esc(w)}</li>`).join('');
  $('#shards').innerHTML = s.shards.map((sh) => shardCard(sh, s.sentinels.length, state.opsPerSecond[sh.name])).join('');
}

// The same count `status` prints: connections the proxy closed over unsupported commands, in its window.
function rejectedText(r) {
  if (!r || r.connectionsClosed === 0) return '';
  return ` · closed ${r.connectionsClosed} connection${r.connectionsClosed === 1 ? '' : 's'} over unsupported commands in ${r.windowMinutes} min: ` +
    r.commands.slice(0, 5).map((c) => `${esc(c.command)} ×${c.count}`).join(', ');
}

function shardCard(sh, nSentinels, ops) {
  const votes = sh.master ? (sh.sentinelVotes.find((v) => v.addr === sh.master)?.sentinels ?? 0) : 0;
  const differs = sh.proxyTarget !== null && sh.master !== null && sh.proxyTarget !== sh.master;
  const master = sh.master
    ? `master <b>${esc(sh.master)}</b> (${votes}/${nSentinels} sentinels)`
    : `<span class="badge bad">master UNKNOWN</span> ${sh.sentinelVotes.map((v) => `${esc(v.addr)} ×${v.sentinels}`).join(', ')}`;
  const proxy = sh.proxyTarget === null ? 'proxy target unknown'
    : `proxy → <b>${esc(sh.proxyTarget)}</b> ${differs ? '<span class="badge bad" data-testid="proxy-differs">DIFFERS from the sentinels</span>' : '<span class="badge ok">in sync</span>'}`;
  const rows = sh.instances.map((i) => {
    const repl = !i.up ? (i.error ?? '') : i.role === 'master' ? `${i.replicasOnline ?? 0} replica${i.replicasOnline === 1 ? '' : 's'} online` : i.role === 'replica' ? `of ${i.replicaOf}, link ${i.link}` : '';
    const lag = i.role === 'replica' ? [i.lagSeconds !== null ? `${i.lagSeconds} s` : '', i.lagBytes !== null ? `${i.lagBytes} B` : ''].filter(Boolean).join(', ') : '';
    return `<tr class="${i.flagged ? 'flag' : ''}">${cell(i.addr + (i.addr === sh.master ? ' *' : ''))}${cell(i.up ? 'up' : 'DOWN')}${cell(i.role ?? '-')}${cell(repl)}${cell(lag, 'num')}${cell(i.keys ?? '', 'num')}</tr>`;
  }).join('');
  const views = sh.sentinelViews.map((v) => `<tr class="${v.master !== sh.master ? 'flag' : ''}">${cell(v.sentinel)}${cell(v.master ?? 'no answer')}${cell(v.configEpoch ?? '', 'num')}${cell(v.flags.filter((f) => f !== 'master').join(', '), 'wrap')}</tr>`).join('');
  return `<div class="shard" data-shard="${esc(sh.name)}">
    <h3>shard ${esc(sh.name)} <span class="muted">${ops !== undefined ? `${ops} ops/s` : ''}</span></h3>
    <div>${master} · ${proxy}</div>
    <table><thead><tr><th>instance</th><th>up</th><th>role</th><th>replication</th><th>lag</th><th>keys</th></tr></thead><tbody>${rows}</tbody></table>
    <table><thead><tr><th>sentinel</th><th>says master is</th><th>config epoch</th><th>flags</th></tr></thead><tbody>${views}</tbody></table>
    ${sh.problems.length ? `<ul>${sh.problems.map((p) => `<li class="bad">${esc(p)}</li>`).join('')}</ul>` : ''}
  </div>`;
}

function rel(t, base) { return t === null || base === null ? '' : `+${t - base}`; }
function dur(a, b) { return a === null || b === null ? '' : String(Math.round(b - a)); }

function renderFailovers() {
  const rows = [...failovers.values()].sort((a, b) => b.id - a.id);
  $('#failovers tbody').innerHTML = rows.map((r) => {
    const base = r.downAt ?? r.odownAt ?? r.promotedAt ?? r.servingAt ?? r.firstSwitchAt;
    const m = r.measured;
    const odownServing = m && m.odownToServingMs !== null ? m.odownToServingMs : dur(r.odownAt, r.servingAt);
    const promoServing = m && m.promotedToServingMs !== null ? m.promotedToServingMs : dur(r.promotedAt, r.servingAt);
    const isNew = !seenRows.has(r.id);
    seenRows.add(r.id);
    return `<tr data-failover="${r.id}" data-shard="${esc(r.shard)}" data-serving="${r.servingAt !== null}" class="${isNew ? 'new' : ''}">` +
      cell(r.id) + cell(r.shard) + cell(`${r.from ?? '?'} → ${r.to ?? '?'}`) + cell(r.path ?? (r.servingAt === null ? 'in progress' : '')) +
      cell(base === null ? '' : new Date(base).toLocaleTimeString(), 'num') + cell(rel(r.odownAt, base), 'num') + cell(rel(r.promotedAt, base), 'num') +
      cell(rel(r.servingAt, base), 'num') + cell(rel(r.firstSwitchAt, base), 'num') +
      cell(odownServing, 'num') + cell(promoServing, 'num') + cell(dur(r.downAt, r.servingAt), 'num') + '</tr>';
  }).join('');
}

function addEvent(e) {
  const li = document.createElement('li');
  const { ts, event, ...rest } = e;
  li.textContent = `${new Date(ts).toLocaleTimeString()} ${event} ${JSON.stringify(rest)}`;
  const ol = $('#events');
  ol.insertBefore(li, ol.firstChild);
  while (ol.children.length > 100) ol.removeChild(ol.lastChild);
}

function updateChart(state) {
  const now = Date.now() / 1000;
  const names = Object.keys(state.opsPerSecond).sort();
  if (names.length === 0 || typeof uPlot === 'undefined') return;
  series.t.push(now);
  for (const n of names) (series.shards[n] ??= new Array(series.t.length - 1).fill(null)).push(state.opsPerSecond[n]);
  for (const n of Object.keys(series.shards)) if (series.shards[n].length < series.t.length) series.shards[n].push(null);
  while (series.t.length && series.t[0] < now - WINDOW_S) {
    series.t.shift();
    for (const n of Object.keys(series.shards)) series.shards[n].shift();
  }
  const keys = Object.keys(series.shards).sort();
  const data = [series.t, ...keys.map((k) => series.shards[k])];
  const colors = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#db2777'];
  if (!chart || keys.join() !== chartShards.join()) {
    chart?.destroy();
    chartShards = keys;
    chart = new uPlot({
      width: Math.min(1100, document.body.clientWidth - 40), height: 220,
      series: [{}, ...keys.map((k, i) => ({ label: k, stroke: colors[i % colors.length], width: 2 }))],
      axes: [{}, { label: 'ops/s' }],
    }, data, $('#chart'));
  } else chart.setData(data);
}

function connect() {
  const es = new EventSource('events');
  es.onopen = () => { $('#live').textContent = 'live'; };
  es.onerror = () => { $('#live').textContent = 'live: reconnecting (missed events are replayed)'; };
  es.addEventListener('reset', (m) => {
    failovers.clear();
    for (const r of JSON.parse(m.data).failovers) { failovers.set(r.id, r); seenRows.add(r.id); }
    renderFailovers();
  });
  es.addEventListener('failover', (m) => {
    const r = JSON.parse(m.data);
    failovers.set(r.id, r);
    renderFailovers();
  });
  es.addEventListener('agent', (m) => addEvent(JSON.parse(m.data)));
  es.addEventListener('snapshot', (m) => {
    const state = JSON.parse(m.data);
    renderStatus(state);
    updateChart(state);
  });
}

fetch('api/state').then((r) => r.json()).then((s) => { renderStatus(s); updateChart(s); }).catch(() => {});
connect();
