// Signals: the list (by severity, status and rule), a signal's detail with its rule's
// description and runbook and the matched events, and acknowledge / resolve / mute / reopen.

import * as api from './api.js';
import { h, clear, fmtTime, fmtAgo, sevBadge, statusBadge, SEVERITIES } from './util.js';
import { navigate, withParams, link } from './app.js';

const STATUSES = ['open', 'acknowledged', 'resolved', 'muted'];
const ACTIONS = [['acknowledged', 'Acknowledge'], ['resolved', 'Resolve'], ['muted', 'Mute'], ['open', 'Reopen']];

export async function render(root, ctx) {
  const p = ctx.params;
  const status = p.has('status') ? p.get('status') : 'open';
  const minSev = p.get('min_severity') || '';
  const rule = p.get('rule') || '';
  const selected = p.get('signal');
  const go = (c, replace = false) => navigate(withParams(c), replace);

  const statusSel = h('select#signal-status', { on: { change: () => go({ status: statusSel.value || 'all', signal: null }) } },
    h('option', { value: 'all', selected: status === 'all' }, 'Any status'), STATUSES.map((s) => h('option', { value: s, selected: s === status }, s)));
  const sevSel = h('select#signal-severity', { on: { change: () => go({ min_severity: sevSel.value, signal: null }) } },
    h('option', { value: '' }, 'Any severity'), SEVERITIES.slice(0, 4).map((s) => h('option', { value: s, selected: s === minSev }, `${s} and above`)));
  const ruleIn = h('input#signal-rule', { placeholder: 'rule id', value: rule, on: { change: () => go({ rule: ruleIn.value.trim(), signal: null }) } });
  const summary = h('div.sev-summary');
  const list = h('section.panel.signal-list#signal-list');
  const detail = h('aside.signal-detail#signal-detail');
  detail.hidden = !selected;
  root.append(h('div.signals-page', h('div.filters', statusSel, sevSel, ruleIn, summary), h('div.signals-body', list, detail)));

  const params = { status: status === 'all' ? undefined : status, since: ctx.range.from || undefined, min_severity: minSev || undefined, rule: rule || undefined, limit: 1000 };
  const r = await api.get('/api/v1/signals', params);
  if (!ctx.alive()) return;
  const counts = {};
  for (const s of r.signals) counts[s.severity] = (counts[s.severity] || 0) + 1;
  for (const sev of SEVERITIES) if (counts[sev]) summary.append(h('span.sev-count', sevBadge(sev), h('b', counts[sev])));
  const rank = (s) => SEVERITIES.indexOf(s.severity);
  const signals = [...r.signals].sort((a, b) => rank(a) - rank(b) || b.last_seen - a.last_seen);
  if (!signals.length) list.append(h('div.empty', 'No signals match.'));
  else {
    const tbody = h('tbody');
    for (const s of signals) {
      tbody.append(h('tr.sig', { class: 'sig' + (s.id === selected ? ' selected' : ''), 'data-id': s.id, 'data-rule': s.rule_id, on: { click: () => go({ signal: s.id }) } },
        h('td', sevBadge(s.severity)), h('td.sig-title', h('div', s.title || s.rule_name), h('div.sub', s.rule_id)),
        h('td.num', s.count), h('td.t', fmtTime(s.first_seen)), h('td.t', fmtTime(s.last_seen)),
        h('td', statusBadge(s.status), s.status_by ? h('div.sub', `${s.status_by}, ${fmtAgo(s.status_at)}`) : null)));
    }
    list.append(h('table.sigtable', h('thead', h('tr', ['Severity', 'Signal', 'Count', 'First seen', 'Last seen', 'Status'].map((t) => h('th', t)))), tbody));
  }
  if (selected) await showSignal(detail, selected, go);
}

async function showSignal(el, id, go) {
  clear(el).append(h('div.loading', 'loading signal…'));
  let r;
  try { r = await api.get(api.paths.signal(id)); } catch (e) { clear(el).append(h('div.error-box', e.message)); return; }
  const s = r.signal, rule = r.rule || {};
  const statusLine = h('div.status-line#signal-status-line', statusBadge(s.status),
    s.status_by ? ` by ${s.status_by} at ${fmtTime(s.status_at)} UTC` : ' (no one has triaged it yet)');
  const err = h('div.error-box');
  err.hidden = true;
  const buttons = ACTIONS.filter(([st]) => st !== s.status).map(([st, label]) =>
    h('button', { type: 'button', class: st === 'acknowledged' ? 'primary' : '', 'data-action': st, id: `signal-${st}`, on: { click: async () => {
      try {
        await api.post(api.paths.signalStatus(id), { status: st });
        navigate(location.pathname + location.search, true);
      } catch (e) { err.hidden = false; err.textContent = e.message; }
    } } }, label));
  const evQuery = (s.sample_event_ids || []).length ? `id:(${s.sample_event_ids.join(' OR ')})` : '';
  clear(el).append(
    h('div.detail-head', h('div.detail-title#signal-title', sevBadge(s.severity), ' ', s.title || s.rule_name),
      h('button.close', { type: 'button', on: { click: () => go({ signal: null }) } }, '×')),
    statusLine, h('div.actions', buttons), err,
    h('dl.kv',
      h('dt', 'Rule'), h('dd', link('/ui/rules', { rule: s.rule_id }, rule.name || s.rule_id)),
      h('dt', 'Group'), h('dd.mono', s.group || '—'),
      h('dt', 'Count'), h('dd', String(s.count)),
      h('dt', 'First seen'), h('dd', fmtTime(s.first_seen)),
      h('dt', 'Last seen'), h('dd', fmtTime(s.last_seen)),
      rule.tactics?.length ? [h('dt', 'MITRE ATT&CK'), h('dd', [...(rule.tactics || []), ...(rule.techniques || [])].join(' · '))] : null),
    h('div.detail-section', 'Description'), h('p.prose', rule.description || '—'),
    h('div.detail-section', 'Runbook'), h('div.prose.runbook#signal-runbook', rule.runbook || '—'),
    h('div.detail-section', `Matched events (${r.events.length})`, evQuery ? link('/ui/explorer', { q: evQuery, from: '', to: '' }, 'open in explorer', 'small-link') : null),
    h('table.evtable.compact#signal-events', h('tbody', r.events.map((e) => h('tr',
      h('td.t', fmtTime(e.time)), h('td.action', e.action), h('td.actor', e.actor?.name || ''),
      h('td.title', link('/ui/explorer', { q: `id:${e.id}`, event: e.id, from: '', to: '' }, e.title)))))));
}
