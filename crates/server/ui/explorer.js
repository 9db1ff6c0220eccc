// The explorer: query bar (errors shown at their column), histogram (drag to zoom, split by a
// field), facet sidebar (click to include, − to exclude), the event list with live tail
// (Server-Sent Events from /api/v1/tail, pausable), and the event detail (normalized fields,
// the raw record, "search events like this").

import * as api from './api.js';
import { h, clear, fmtTime, fmtCount, iso, addTerm, quote, mark } from './util.js';
import { timeseries } from './chart.js';
import { navigate, withParams } from './app.js';

export const FACETS = [
  ['service', 'Service'], ['action', 'Action'], ['account', 'Account'], ['region', 'Region'],
  ['actor.name', 'Actor'], ['source_ip', 'Source IP'], ['outcome', 'Outcome'], ['error_code', 'Error code'],
  ['agent', 'User agent family'],
];
const SPLITS = [['', 'No split'], ...FACETS, ['actor.type', 'Actor type'], ['event_type', 'Event type']];
const PAGE = 50;
/** How long a streamed-in event stays marked as new. */
const FRESH_MS = 8000;
/** After the stream fails for good (an error status), how long before trying again. */
const RETRY_MS = 5000;

// Whether Live is on, kept across the explorer's renders: a changed query (a new render)
// restarts the tail from the new search.
let liveWanted = false;

const ACTOR_FIELDS = { kind: 'actor.type', access_key_id: 'actor.access_key', principal_id: 'actor.principal_id', invoked_by: 'actor.invoked_by' };

/** The normalized fields of an event as (query field, value) pairs. */
export function normalizedFields(e) {
  const out = [];
  for (const [k, v] of Object.entries(e)) {
    if (k === 'record' || v === null || v === undefined) continue;
    if (k === 'actor' && typeof v === 'object') {
      for (const [ak, av] of Object.entries(v)) if (av !== null && av !== undefined && av !== '') out.push([ACTOR_FIELDS[ak] || `actor.${ak}`, av]);
    } else if (k === 'resources' && Array.isArray(v)) {
      for (const r of v) if (r && (r.arn || r.ARN)) out.push(['resource', r.arn || r.ARN]);
    } else if (typeof v !== 'object') {
      out.push([k, v]);
    }
  }
  return out;
}

const TIME_FIELDS = new Set(['time', 'received']);

export async function render(root, ctx) {
  const p = ctx.params;
  const q = p.get('q') || '';
  const { from, to } = ctx.range;
  const by = p.get('by') || '';
  const eventId = p.get('event');
  const go = (changes, replace = false) => navigate(withParams(changes), replace);

  // Query bar.
  const input = h('input.query#query', { value: q, spellcheck: 'false', autocomplete: 'off', placeholder: 'service:iam action:Create* -outcome:failure "access denied"' });
  const qerr = h('div.query-error#query-error');
  qerr.hidden = true;
  const bar = h('form.querybar', { on: { submit: (ev) => { ev.preventDefault(); go({ q: input.value.trim(), event: null }); } } },
    h('span.q-icon', '⌕'), input, h('button.primary#run', { type: 'submit' }, 'Search'));
  const liveBtn = h('button.live#live', { type: 'button', title: 'Live tail: new events stream in' }, h('i.dot'), 'Live');
  const splitSel = h('select#split', { title: 'Split the histogram by', on: { change: () => go({ by: splitSel.value }, true) } },
    SPLITS.map(([v, l]) => h('option', { value: v, selected: v === by }, v ? `by ${l}` : l)));
  const countEl = h('span.count#total', '…');
  const histEl = h('div.hist#histogram');
  const facetsEl = h('aside.facets#facets');
  const listEl = h('div.events#events');
  const detailEl = h('aside.detail#detail');
  detailEl.hidden = !eventId;
  root.append(
    h('div.explorer',
      bar, qerr,
      h('section.panel.hist-panel', h('div.panel-head', h('span.panel-title', countEl, ' events'), h('div.panel-tools', splitSel, liveBtn)), histEl),
      h('div.explorer-body', facetsEl, h('section.panel.list-panel', listEl), detailEl)));

  const showQueryError = (e) => {
    clear(qerr);
    qerr.hidden = false;
    input.classList.add('bad');
    if (e.column) {
      const i = Math.max(0, e.column - 1);
      const chars = Array.from(q);
      qerr.append(h('pre.q-mirror', chars.slice(0, i).join(''), h('span.err-at', chars[i] ?? ' '), chars.slice(i + 1).join('')));
      qerr.append(h('div.q-msg', `${e.message} (column ${e.column})`));
      input.focus();
      const before = chars.slice(0, i).join('').length;
      input.setSelectionRange(before, before + (chars[i] ? chars[i].length : 0));
    } else {
      qerr.append(h('div.q-msg', e.message));
    }
  };

  const base = { q, from, to };
  const seen = new Set();
  let offset = 0;
  let total = 0;
  // The store's tail cursor as of the first page: the tail starts there, so events stored
  // between the search and a click on Live still come.
  let cursor = null;
  let badQuery = false;

  const table = h('table.evtable', h('thead', h('tr', ['Time (UTC)', 'Service', 'Action', 'Actor', 'Source IP', 'Outcome', 'Title'].map((t) => h('th', t)))));
  const tbody = h('tbody');
  table.append(tbody);
  const more = h('button.more#more', { type: 'button', on: { click: () => loadPage() } }, 'Load more');
  more.hidden = true;
  listEl.append(table, more);

  const row = (e, fresh) => {
    const tr = h('tr.ev', { 'data-id': e.id, class: 'ev' + (e.id === eventId ? ' selected' : '') + (fresh ? ' fresh' : ''), on: { click: () => go({ event: e.id }) } },
      h('td.t', fmtTime(e.time)), h('td', h('span.svc', e.service)), h('td.action', e.action), h('td.actor', { title: e.actor?.arn || '' }, e.actor?.name || ''),
      h('td.ip', e.source_ip || ''), h('td', h(`span.outcome.outcome-${e.outcome}`, e.outcome === 'failure' ? (e.error_code || 'failure') : e.outcome)),
      h('td.title', { title: e.title }, e.title));
    return tr;
  };

  async function loadPage() {
    more.disabled = true;
    try {
      const r = await api.get('/api/v1/search', { ...base, limit: PAGE, offset });
      if (!ctx.alive()) return;
      if (offset === 0) cursor = r.cursor;
      total = r.total;
      countEl.textContent = fmtCount(total);
      for (const e of r.events) if (!seen.has(e.id)) { seen.add(e.id); tbody.append(row(e, false)); }
      offset += r.events.length;
      more.hidden = offset >= total;
      if (!r.events.length && offset === 0) listEl.append(h('div.empty#no-events', 'No events match this query in this time range.'));
      if (offset === r.events.length) mark('tw:explorer:list');
    } catch (e) {
      badQuery = e.status === 400;
      if (e.status === 400 && e.column !== undefined) showQueryError(e);
      else if (e.status === 400) showQueryError(e);
      else listEl.append(h('div.error-box', e.message));
      countEl.textContent = '0';
    } finally {
      more.disabled = false;
    }
  }

  async function loadHistogram() {
    try {
      const [hist, sig] = await Promise.all([
        api.get('/api/v1/histogram', { ...base, by: by || undefined, top: by ? 8 : undefined }),
        api.get('/api/v1/signals', { limit: 500 }).catch(() => ({ signals: [] })),
      ]);
      if (!ctx.alive()) return;
      const markers = sig.signals.map((s) => ({ time: s.first_seen, severity: s.severity, title: s.title || s.rule_name }));
      timeseries(histEl, hist, {
        height: 130, markers,
        onZoom: (a, b) => go({ from: iso(a), to: iso(b + 999) }),
        onClick: (a, b) => go({ from: iso(a), to: iso(b) }),
      });
      mark('tw:explorer:histogram');
    } catch (e) {
      clear(histEl).append(h('div.empty', e.status === 400 ? 'fix the query to see the histogram' : e.message));
    }
  }

  // `after`: what to wait for before asking (the first load waits for the list, so that the
  // search and the histogram do not compete with 9 facet calls); the boxes show at once.
  async function loadFacets(after) {
    clear(facetsEl).append(h('div.facets-head', 'Facets'));
    const boxes = FACETS.map(([field, label]) => {
      const box = h('div.facet', { 'data-field': field }, h('div.facet-title', label), h('div.facet-body', h('div.loading', '…')));
      facetsEl.append(box);
      return [field, box];
    });
    if (after) await after;
    if (!ctx.alive()) return;
    await Promise.all(boxes.map(async ([field, box]) => {
      const body = box.querySelector('.facet-body');
      try {
        const r = await api.get('/api/v1/facets', { ...base, field, size: 8 });
        if (!ctx.alive()) return;
        clear(body);
        if (!r.values.length) body.append(h('div.facet-none', 'no values'));
        const max = Math.max(1, ...r.values.map((v) => v.count));
        for (const v of r.values) {
          const inQ = q.includes(`${field}:${quote(v.value)}`);
          const meter = h('i.meter');
          meter.style.width = `${(100 * v.count) / max}%`;
          body.append(h('div.facet-value', { class: 'facet-value' + (inQ ? ' on' : ''), 'data-value': v.value },
            h('button.fv-include', { type: 'button', title: `Only ${field}:${v.value}`, on: { click: () => go({ q: addTerm(q, field, v.value), event: null }) } },
              meter, h('span.fv-name', v.value), h('span.fv-count', fmtCount(v.count))),
            h('button.fv-exclude', { type: 'button', title: `Exclude ${field}:${v.value}`, on: { click: () => go({ q: addTerm(q, field, v.value, true), event: null }) } }, '−')));
        }
        if (r.other > 0) body.append(h('div.facet-other', `${fmtCount(r.other)} in other values`));
      } catch (e) {
        clear(body).append(h('div.facet-none', e.status === 400 ? '—' : e.message));
      }
    }));
    if (ctx.alive()) mark('tw:explorer:facets');
  }

  // Live tail: an EventSource on /api/v1/tail from the cursor; each message brings the events
  // committed since the previous one (late ones too), put on top. Pausing closes the stream and
  // keeps the cursor, so resuming misses nothing.
  let source = null;
  let retry = null;
  const newNote = h('div.tail-note#tail-more');
  newNote.hidden = true;
  listEl.prepend(newNote);
  let unseen = 0;
  let refreshTimer = null;
  const onMessage = (ev) => {
    if (!ctx.alive() || !source) return;
    cursor = Number(ev.lastEventId);
    const m = JSON.parse(ev.data);
    const fresh = m.events.filter((e) => !seen.has(e.id));
    for (const e of fresh) {
      seen.add(e.id);
      const tr = row(e, true);
      tbody.prepend(tr);
      setTimeout(() => tr.classList.remove('fresh'), FRESH_MS);
    }
    if (m.total > m.events.length) {
      unseen += m.total - m.events.length;
      newNote.hidden = false;
      newNote.textContent = `+${fmtCount(unseen)} more new events not shown: search again to see them`;
    }
    if (m.total > 0) {
      document.getElementById('no-events')?.remove();
      total += m.total;
      countEl.textContent = fmtCount(total);
      // Several messages in a row redraw the histogram and facets once.
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(() => { if (ctx.alive()) { loadHistogram(); loadFacets(); } }, 300);
    }
    liveBtn.title = `Live tail: last message ${fmtTime(Date.now())}`;
  };
  const open = () => {
    if (badQuery) { liveBtn.title = 'Live tail: fix the query first'; return; }
    const u = new URL('/api/v1/tail', location.origin);
    if (q) u.searchParams.set('q', q);
    // The range shown: events whose time falls outside it neither come nor count.
    if (from) u.searchParams.set('from', from);
    if (to) u.searchParams.set('to', to);
    if (cursor !== null && cursor !== undefined) u.searchParams.set('after', cursor);
    source = new EventSource(u);
    source.onmessage = onMessage;
    source.onerror = () => {
      // The browser reconnects by itself (with Last-Event-ID) unless the server answered with
      // an error status; then try again a little later, from the cursor.
      if (!source || source.readyState !== EventSource.CLOSED) return;
      source = null;
      liveBtn.title = 'Live tail: the server refused the stream; trying again';
      retry = setTimeout(() => { retry = null; if (liveWanted && ctx.alive() && !source) open(); }, RETRY_MS);
    };
  };
  const close = () => {
    if (source) { source.close(); source = null; }
    if (retry) { clearTimeout(retry); retry = null; }
  };
  const setLive = (on) => {
    liveWanted = on;
    liveBtn.classList.toggle('on', on);
    liveBtn.lastChild.textContent = on ? 'Live · pause' : 'Live';
    if (on && !source) open();
    if (!on) close();
  };
  liveBtn.addEventListener('click', () => setLive(!liveWanted));

  if (eventId) showDetail(detailEl, eventId, q, go);
  // The list and the histogram first; the facets once the list is in (or has failed).
  const list = loadPage();
  await Promise.all([list, loadHistogram(), loadFacets(list)]);
  if (ctx.alive()) mark('tw:explorer:ready');
  if (liveWanted && ctx.alive()) setLive(true);
  // Leaving the page (or changing the query) closes the stream; Live stays wanted.
  return () => { close(); clearTimeout(refreshTimer); };
}

function valueButtons(field, value, q, go) {
  const v = String(value);
  return h('span.fbtns',
    h('button.fb', { type: 'button', title: `Add ${field}:${v} to the query`, 'data-act': 'include', on: { click: () => go({ q: addTerm(q, field, v), event: null }) } }, '+'),
    h('button.fb', { type: 'button', title: `Exclude ${field}:${v}`, 'data-act': 'exclude', on: { click: () => go({ q: addTerm(q, field, v, true), event: null }) } }, '−'),
    h('button.fb', { type: 'button', title: `Search events like this: ${field}:${v}`, 'data-act': 'like', on: { click: () => go({ q: `${field}:${quote(v)}`, event: null }) } }, '⌕'));
}

function jsonTree(value, path, q, go) {
  if (value === null || typeof value !== 'object') {
    const cls = value === null ? 'j-null' : typeof value === 'string' ? 'j-str' : typeof value === 'number' ? 'j-num' : 'j-bool';
    const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
    if (!path || value === null) return h(`span.${cls}`, text);
    const field = '@' + path;
    return h(`span.${cls}.j-leaf`, { title: `Search events like this: ${field}:${value}`, on: { click: () => go({ q: `${field}:${quote(value)}`, event: null }) } }, text);
  }
  const isArr = Array.isArray(value);
  const entries = isArr ? value.map((v, i) => [i, v]) : Object.entries(value);
  if (!entries.length) return h('span.j-punc', isArr ? '[]' : '{}');
  const box = h('span.j-box', h('span.j-punc', isArr ? '[' : '{'));
  const inner = h('div.j-inner');
  entries.forEach(([k, v], i) => {
    const sub = isArr ? path : (path ? `${path}.${k}` : String(k));
    inner.append(h('div.j-line', isArr ? null : [h('span.j-key', JSON.stringify(k)), h('span.j-punc', ': ')], jsonTree(v, sub, q, go), i < entries.length - 1 ? h('span.j-punc', ',') : null));
  });
  box.append(inner, h('span.j-punc', isArr ? ']' : '}'));
  return box;
}

async function showDetail(el, id, q, go) {
  clear(el).append(h('div.loading', 'loading event…'));
  try {
    const e = await api.get(api.paths.event(id));
    const rows = normalizedFields(e).map(([f, v]) => h('tr', h('td.f', f), h('td.v', TIME_FIELDS.has(f) ? fmtTime(v, true) : String(v)), h('td.b', TIME_FIELDS.has(f) ? null : valueButtons(f, v, q, go))));
    clear(el).append(
      h('div.detail-head', h('div.detail-title#event-title', e.title),
        h('button.close#close-detail', { type: 'button', title: 'Close', on: { click: () => go({ event: null }) } }, '×')),
      h('div.detail-sub', fmtTime(e.time), ' · ', e.service, ' · ', e.action, ' · ', h(`span.outcome.outcome-${e.outcome}`, e.outcome)),
      h('div.detail-section', 'Normalized fields'),
      h('table.fields#event-fields', h('tbody', rows)),
      h('div.detail-section', 'Raw record', h('button.link#copy-raw', { type: 'button', on: { click: () => navigator.clipboard?.writeText(JSON.stringify(e.record, null, 2)) } }, 'copy')),
      h('pre.raw#event-raw', jsonTree(e.record, '', q, go)));
  } catch (err) {
    clear(el).append(h('div.error-box', err.message));
  }
}
