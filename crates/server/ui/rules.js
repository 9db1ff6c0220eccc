// Rules: the loaded rules, one rule's definition, switching it on or off (kept in the state
// database; ingests honour it), and a dry run over stored events showing what it would fire.

import * as api from './api.js';
import { h, clear, fmtTime, fmtAgo, fmtDuration, sevBadge, SEVERITIES } from './util.js';
import { navigate, withParams } from './app.js';

export async function render(root, ctx) {
  const selected = ctx.params.get('rule');
  const filter = ctx.params.get('filter') || '';
  const go = (c) => navigate(withParams(c));
  const r = await api.get('/api/v1/rules');
  if (!ctx.alive()) return;
  const search = h('input#rule-filter', { placeholder: 'filter rules', value: filter, on: { input: () => apply() } });
  const count = h('span.muted');
  const tbody = h('tbody');
  const rank = (x) => SEVERITIES.indexOf(x.severity);
  const rules = [...r.rules].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
  for (const rule of rules) {
    tbody.append(h('tr.rule', { class: 'rule' + (rule.id === selected ? ' selected' : '') + (rule.enabled ? '' : ' disabled'), 'data-id': rule.id, 'data-text': `${rule.id} ${rule.name} ${rule.tags.join(' ')} ${rule.tactics.join(' ')}`.toLowerCase(), on: { click: () => go({ rule: rule.id }) } },
      h('td', h('span', { class: 'pill ' + (rule.enabled ? 'pill-on' : 'pill-off') }, rule.enabled ? 'on' : 'off')), h('td', sevBadge(rule.severity)),
      h('td', h('div', rule.name), h('div.sub', rule.id)), h('td', rule.method), h('td.sub', [...rule.tactics, ...rule.techniques].join(' ')),
      h('td.sub', rule.origin)));
  }
  const apply = () => {
    const f = search.value.toLowerCase().trim();
    let n = 0;
    for (const tr of tbody.children) { const show = !f || tr.dataset.text.includes(f); tr.hidden = !show; n += show; }
    count.textContent = `${n} of ${rules.length} rules`;
  };
  const detail = h('aside.rule-detail#rule-detail');
  detail.hidden = !selected;
  root.append(h('div.filters', search, count), h('div.signals-body',
    h('section.panel.signal-list', h('table.sigtable#rule-list', h('thead', h('tr', ['', 'Severity', 'Rule', 'Method', 'ATT&CK', 'Origin'].map((t) => h('th', t)))), tbody)), detail));
  apply();
  if (selected) showRule(detail, selected, go);
}

async function showRule(el, id, go) {
  clear(el).append(h('div.loading', '…'));
  const rule = await api.get(api.paths.rule(id));
  const err = h('div.error-box');
  err.hidden = true;
  const toggle = h('button#rule-toggle', { type: 'button', class: rule.enabled ? '' : 'primary', on: { click: async () => {
    try { await api.post(api.paths.ruleEnabled(id), { enabled: !rule.enabled }); navigate(location.pathname + location.search, true); } catch (e) { err.hidden = false; err.textContent = e.message; }
  } } }, rule.enabled ? 'Disable' : 'Enable');
  const since = h('select#replay-range', [['-24h', 'last 24 hours'], ['-7d', 'last 7 days'], ['-30d', 'last 30 days'], ['-365d', 'last year'], ['1970-01-01', 'all stored events']].map(([v, l]) => h('option', { value: v, selected: v === '-30d' }, l)));
  const out = h('div.replay#replay-result');
  const run = h('button.primary#replay-run', { type: 'button', on: { click: async () => {
    clear(out).append(h('div.loading', 'replaying…'));
    try {
      const r = await api.post(api.paths.ruleReplay(id), { from: since.value });
      clear(out).append(h('div.replay-sum', `${r.total} signal${r.total === 1 ? '' : 's'} would fire over ${r.events_read} candidate events`),
        r.signals.length ? h('table.evtable.compact', h('tbody', r.signals.map((s) => h('tr', h('td', sevBadge(s.severity)), h('td.title', s.title), h('td.num', String(s.count)), h('td.t', fmtTime(s.first_seen)))))) : null);
    } catch (e) { clear(out).append(h('div.error-box', e.message)); }
  } } }, 'Dry run');
  clear(el).append(
    h('div.detail-head', h('div.detail-title#rule-title', sevBadge(rule.severity), ' ', rule.name), h('button.close', { type: 'button', on: { click: () => go({ rule: null }) } }, '×')),
    h('div.status-line', h('span', { class: 'pill ' + (rule.enabled ? 'pill-on' : 'pill-off') }, rule.enabled ? 'enabled' : 'disabled'),
      rule.switched_by ? ` by ${rule.switched_by}, ${fmtAgo(rule.switched_at)}` : ' (as its file says)', rule.dry_run ? h('span.tag', 'dry run') : null),
    h('div.actions', toggle, h('span.sub', 'applies to the next ingest')), err,
    h('dl.kv', h('dt', 'Id'), h('dd.mono', rule.id), h('dt', 'Method'), h('dd', rule.method),
      h('dt', 'Group by'), h('dd.mono', rule.group_by.join(', ') || '—'), h('dt', 'Suppression'), h('dd', fmtDuration(rule.suppress_ms)),
      h('dt', 'ATT&CK'), h('dd', [...rule.tactics, ...rule.techniques].join(' · ') || '—'), h('dt', 'Tags'), h('dd', rule.tags.join(', ') || '—'),
      h('dt', 'Origin'), h('dd.mono', rule.origin), h('dt', 'Tests'), h('dd', String(rule.tests))),
    h('div.detail-section', 'Query'), h('pre.code#rule-query', rule.query),
    h('div.detail-section', 'Description'), h('p.prose', rule.description),
    h('div.detail-section', 'Runbook'), h('div.prose.runbook', rule.runbook || '—'),
    ...(rule.references?.length ? [h('div.detail-section', 'References'), h('ul.refs#rule-references', rule.references.map((u) => h('li', h('a', { href: u, rel: 'noreferrer noopener', target: '_blank' }, u))))] : []),
    h('div.detail-section', 'Dry run over stored events'), h('div.actions', since, run), out);
}
