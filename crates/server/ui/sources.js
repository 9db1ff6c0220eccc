// Sources: what was read, per source (files, events, errors, the last file and its lag), from
// `/api/v1/sources`, and the health of each AWS trail `trailwatch poll` reads (lag, rates,
// request counts and cost, last error, silent trails flagged).

import * as api from './api.js';
import { h, fmtTime, fmtCount, fmtDuration } from './util.js';

export async function render(root, ctx) {
  const r = await api.get('/api/v1/sources');
  if (!ctx.alive()) return;
  const stat = (label, value, id) => h('div.stat', { id }, h('div.stat-label', label), h('div.stat-value', value));
  root.append(h('div.stats',
    stat('Stored events', fmtCount(r.store.events), 'stat-events'),
    stat('Oldest event', fmtTime(r.store.oldest)), stat('Newest event', fmtTime(r.store.newest)),
    stat('Sources', String(r.sources.length))));
  const rows = r.sources.map((s) => h('tr', { 'data-source': s.source },
    h('td', h('div', s.source), h('div.sub', s.kind)), h('td.num', fmtCount(s.files)), h('td.num', fmtCount(s.events)),
    h('td.num', { class: 'num' + (s.errors ? ' warn' : '') }, fmtCount(s.errors)), h('td.num', { class: 'num' + (s.failed_files ? ' warn' : '') }, fmtCount(s.failed_files)),
    h('td.t', fmtTime(s.last_file_at)), h('td', fmtDuration(s.lag_ms)),
    h('td.sub', s.last_error ? `${s.last_error.path}: ${s.last_error.error}` : '—')));
  root.append(h('section.panel', h('div.panel-head', h('span.panel-title', 'Files read')),
    r.sources.length
      ? h('table.sigtable#sources', h('thead', h('tr', ['Source', 'Files', 'Events', 'Bad records', 'Failed files', 'Last file read', 'Since', 'Last error'].map((t) => h('th', t)))), h('tbody', rows))
      : h('div.empty', 'Nothing read yet: run `trailwatch ingest PATH`.')));
  const trails = r.trails || [];
  const lag = (t) => t.lag_p50_ms == null ? '—' : `${fmtDuration(t.lag_p50_ms)} / ${fmtDuration(t.lag_p95_ms)}`;
  const trailRows = trails.map((t) => h('tr', { 'data-trail': t.arn, class: t.silent || t.last_error ? 'warn' : '' },
    h('td', h('div', t.name), h('div.sub', `${t.account} · s3://${t.bucket}`)),
    h('td', t.silent ? h('span.status.status-open', 'silent') : h('span.status.status-resolved', 'ok')),
    h('td.t', fmtTime(t.last_file_at)), h('td', lag(t)),
    h('td.num', t.files_per_hour.toFixed(1)), h('td.num', fmtCount(Math.round(t.events_per_hour))),
    h('td.num', `${fmtCount(t.lists_total)} / ${fmtCount(t.gets_total)}`), h('td.num', `$${t.cost_per_day_usd.toFixed(4)}`),
    h('td.num', fmtCount(t.events_excluded)),
    h('td.sub', t.last_error ? `${fmtTime(t.last_error_at)}: ${t.last_error}` : '—')));
  root.append(h('section.panel', h('div.panel-head', h('span.panel-title', 'AWS trails')),
    trails.length
      ? h('table.sigtable#trails', h('thead', h('tr', ['Trail', 'Health', 'Last file', 'Lag p50 / p95', 'Files/h', 'Events/h', 'Lists / gets', 'Cost/day', 'Excluded', 'Last error'].map((x) => h('th', x)))), h('tbody', trailRows))
      : h('div.empty', 'No AWS trail polled yet: configure [[accounts]] and run `trailwatch poll` (docs/AWS.md); `trailwatch doctor` checks the permissions.')));
}
