// Sources: what was read, per source (files, events, errors, the last file and its lag), from
// `/api/v1/sources`; configured AWS accounts and trails appear here when the server lists them.

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
  if (r.accounts && r.accounts.length) {
    root.append(h('section.panel', h('div.panel-head', h('span.panel-title', 'AWS accounts')),
      h('table.sigtable', h('tbody', r.accounts.map((a) => h('tr', Object.values(a).map((v) => h('td', typeof v === 'object' ? JSON.stringify(v) : String(v)))))))));
  }
}
