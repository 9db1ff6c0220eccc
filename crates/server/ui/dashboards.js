// Dashboards: the built-in CloudTrail overview and user dashboards made of widgets (time series,
// top list, single value, event list, signals), each a query over the shared time range.
// Clicking a bar, a value or a row opens the explorer on that slice; signals are markers.

import * as api from './api.js';
import { h, clear, fmtTime, fmtCount, iso, addTerm, sevBadge, SEVERITIES, mark } from './util.js';
import { timeseries, toplist, SEV } from './chart.js';
import { navigate, link, range } from './app.js';
import { FACETS } from './explorer.js';

const KINDS = [['timeseries', 'Time series'], ['toplist', 'Top list'], ['value', 'Single value'], ['events', 'Event list'], ['signals', 'Signals by severity']];
const FIELDS = [...FACETS, ['actor.type', 'Actor type'], ['event_type', 'Event type'], ['user_agent', 'User agent']];

function explorerUrl(q, extra = {}) {
  const { from, to } = range();
  const p = new URLSearchParams();
  if (q) p.set('q', q);
  const f = extra.from ?? from, t = extra.to ?? to;
  if (f) p.set('from', f);
  if (t) p.set('to', t);
  if (extra.event) p.set('event', extra.event);
  return '/ui/explorer?' + p.toString();
}

export async function render(root, ctx) {
  const id = ctx.rest[0];
  if (!id) return listPage(root, ctx);
  const d = await api.get(api.paths.dashboard(id));
  if (!ctx.alive()) return;
  ctx.setTitle(d.name);
  if (ctx.params.get('edit') === '1' && !d.builtin) return editor(root, d);
  return view(root, ctx, d);
}

async function listPage(root, ctx) {
  const r = await api.get('/api/v1/dashboards');
  if (!ctx.alive()) return;
  const grid = h('div.cards#dashboard-list');
  for (const d of r.dashboards) {
    grid.append(link(`/ui/dashboards/${encodeURIComponent(d.id)}`, {}, [
      h('div.card-title', d.name, d.builtin ? h('span.tag', 'built-in') : null),
      h('div.card-desc', d.description || `${d.widgets.length} widgets`),
      h('div.card-meta', d.builtin ? `${d.widgets.length} widgets` : `by ${d.created_by} · updated ${fmtTime(d.updated_at)}`),
    ], 'card'));
  }
  const create = h('button.primary#new-dashboard', { type: 'button', on: { click: async () => {
    const made = await api.post('/api/v1/dashboards', { name: 'New dashboard', description: '', widgets: [{ type: 'timeseries', title: 'Events over time', query: '', field: 'service' }] });
    navigate(`/ui/dashboards/${encodeURIComponent(made.id)}?edit=1`);
  } } }, '+ New dashboard');
  root.append(h('div.page-tools', create), grid);
}

async function view(root, ctx, d) {
  const { from, to } = ctx.range;
  const tools = h('div.page-tools',
    h('span.page-desc', d.description || ''),
    d.builtin
      ? h('button#copy-dashboard', { type: 'button', on: { click: async () => {
        const made = await api.post('/api/v1/dashboards', { name: `${d.name} (copy)`, description: d.description, widgets: d.widgets });
        navigate(`/ui/dashboards/${encodeURIComponent(made.id)}?edit=1`);
      } } }, 'Save a copy')
      : h('button#edit-dashboard', { type: 'button', on: { click: () => navigate(location.pathname + location.search + (location.search ? '&' : '?') + 'edit=1') } }, 'Edit'));
  const grid = h('div.widgets#widgets');
  root.append(tools, grid);
  const sigs = api.get('/api/v1/signals', { since: from || undefined, limit: 1000 })
    .then((r) => r.signals.filter((s) => !to || s.first_seen < Date.parse(to) || !/^\d{4}-/.test(to)))
    .catch(() => []);
  await Promise.all(d.widgets.map((w, i) => {
    const body = h('div.widget-body');
    const box = h(`div.widget.w-${w.type}`, { 'data-widget': i, 'data-type': w.type }, h('div.widget-title', w.title, w.query ? h('span.widget-q', { title: w.query }, w.query) : null), body);
    grid.append(box);
    return widget(body, w, { from, to }, sigs, ctx).catch((e) => { if (ctx.alive()) clear(body).append(h('div.error-box', e.message)); });
  }));
  // Every widget has rendered (or shown its error).
  if (ctx.alive()) mark('tw:dashboard:ready');
}

async function widget(el, w, rng, sigs, ctx) {
  const base = { q: w.query, from: rng.from, to: rng.to };
  el.append(h('div.loading', '…'));
  if (w.type === 'value') {
    // limit=0: the count only, no record read.
    const r = await api.get('/api/v1/search', { ...base, limit: 0 });
    if (!ctx.alive()) return;
    clear(el).append(h('a.big-value', { href: explorerUrl(w.query), on: { click: (ev) => { ev.preventDefault(); navigate(explorerUrl(w.query)); } } }, fmtCount(r.total)));
  } else if (w.type === 'timeseries') {
    const [hist, signals] = await Promise.all([api.get('/api/v1/histogram', { ...base, by: w.field, top: w.field ? 6 : undefined }), sigs]);
    if (!ctx.alive()) return;
    const markers = signals.map((s) => ({ time: s.first_seen, severity: s.severity, title: s.title || s.rule_name }));
    timeseries(el, hist, {
      height: 170, markers,
      onClick: (a, b) => navigate(explorerUrl(w.query, { from: iso(a), to: iso(b) })),
      onZoom: (a, b) => navigate(location.pathname + '?' + new URLSearchParams({ from: iso(a), to: iso(b + 999) })),
    });
  } else if (w.type === 'toplist') {
    const r = await api.get('/api/v1/facets', { ...base, field: w.field, size: w.size || 8 });
    if (!ctx.alive()) return;
    toplist(el, r, (v) => navigate(explorerUrl(addTerm(w.query || '', w.field, v))));
  } else if (w.type === 'events') {
    const r = await api.get('/api/v1/search', { ...base, limit: w.size || 8 });
    if (!ctx.alive()) return;
    clear(el);
    if (!r.events.length) { el.append(h('div.empty', 'no events')); return; }
    el.append(h('table.evtable.compact', h('tbody', r.events.map((e) => h('tr.ev', { on: { click: () => navigate(explorerUrl(w.query, { event: e.id })) } },
      h('td.t', fmtTime(e.time)), h('td.action', e.action), h('td.actor', e.actor?.name || ''), h('td.title', { title: e.title }, e.title))))));
  } else if (w.type === 'signals') {
    const signals = await sigs;
    if (!ctx.alive()) return;
    const counts = Object.fromEntries(SEVERITIES.map((s) => [s, 0]));
    for (const s of signals) counts[s.severity] = (counts[s.severity] || 0) + 1;
    const max = Math.max(1, ...Object.values(counts));
    clear(el).append(h('div.sev-bars', SEVERITIES.map((sev) => {
      const bar = h('i.sev-bar');
      bar.style.width = `${(100 * counts[sev]) / max}%`;
      bar.style.background = SEV[sev];
      return link('/ui/signals', { min_severity: sev, status: 'all' }, [sevBadge(sev), h('span.sev-track', bar), h('b', String(counts[sev]))], 'sev-row');
    })));
  }
}

function editor(root, d) {
  const name = h('input#dash-name', { value: d.name });
  const desc = h('input#dash-desc', { value: d.description || '', placeholder: 'what it is for' });
  const rows = h('div.wedit-list');
  const err = h('div.error-box#dash-error');
  err.hidden = true;
  const addRow = (w) => {
    const kind = h('select.w-kind', KINDS.map(([v, l]) => h('option', { value: v, selected: v === w.type }, l)));
    const title = h('input.w-title', { value: w.title || '', placeholder: 'title' });
    const query = h('input.w-query.mono', { value: w.query || '', placeholder: 'query (empty: every event)' });
    const field = h('select.w-field', h('option', { value: '' }, '—'), FIELDS.map(([v, l]) => h('option', { value: v, selected: v === w.field }, l)));
    const size = h('input.w-size', { type: 'number', min: 1, max: 100, value: w.size || '', placeholder: 'rows' });
    const row = h('div.wedit', kind, title, query, field, size,
      h('button.fb', { type: 'button', title: 'Move up', on: { click: () => row.previousSibling && rows.insertBefore(row, row.previousSibling) } }, '↑'),
      h('button.fb', { type: 'button', title: 'Remove', on: { click: () => row.remove() } }, '×'));
    row.read = () => {
      const o = { type: kind.value, title: title.value.trim(), query: query.value.trim() };
      if (field.value) o.field = field.value;
      if (size.value) o.size = Number(size.value);
      return o;
    };
    rows.append(row);
  };
  d.widgets.forEach(addRow);
  const body = () => ({ name: name.value.trim(), description: desc.value.trim(), widgets: [...rows.children].map((r) => r.read()) });
  const url = `/ui/dashboards/${encodeURIComponent(d.id)}`;
  root.append(h('div.editor#dashboard-editor',
    h('div.form-row', h('label', 'Name', name), h('label.grow', 'Description', desc)),
    h('div.wedit-head', h('span', 'Type'), h('span', 'Title'), h('span', 'Query'), h('span', 'Field'), h('span', 'Rows'), h('span'), h('span')),
    rows,
    h('div.actions',
      h('button#add-widget', { type: 'button', on: { click: () => addRow({ type: 'value', title: 'Events', query: '' }) } }, '+ Widget'),
      h('span.grow'),
      h('button.danger#delete-dashboard', { type: 'button', on: { click: async () => { if (confirm(`Delete ${d.name}?`)) { await api.del(api.paths.dashboard(d.id)); navigate('/ui/dashboards'); } } } }, 'Delete'),
      h('button#cancel-edit', { type: 'button', on: { click: () => navigate(url) } }, 'Cancel'),
      h('button.primary#save-dashboard', { type: 'button', on: { click: async () => {
        try { await api.put(api.paths.dashboard(d.id), body()); navigate(url); } catch (e) { err.hidden = false; err.textContent = e.message; }
      } } }, 'Save')),
    err));
}
