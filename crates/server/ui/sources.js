// Sources: what was read, per source (files, events, errors, the last file and its lag), from
// `/api/v1/sources`; per configured AWS account (what `trailwatch poll` or `serve` discovered):
// its settings and event selection, the trails found (read, or skipped and why) with each
// trail's health (lag, rates, request counts and cost, last error, silent trails flagged),
// discovery errors, and the last `trailwatch doctor` report with the IAM policy to add.

import * as api from './api.js';
import { h, fmtTime, fmtCount, fmtDuration } from './util.js';

const lag = (t) => t.lag_p50_ms == null ? '—' : `${fmtDuration(t.lag_p50_ms)} / ${fmtDuration(t.lag_p95_ms)}`;

function healthCells(t) {
  if (!t) return [h('td.sub', { colspan: 6 }, 'not polled yet')];
  return [
    h('td', t.silent ? h('span.status.status-open', 'silent') : h('span.status.status-resolved', 'ok')),
    h('td.t', fmtTime(t.last_file_at)), h('td', lag(t)),
    h('td.num', `${t.files_per_hour.toFixed(1)} / ${fmtCount(Math.round(t.events_per_hour))}`),
    h('td.num', `${fmtCount(t.lists_total)} / ${fmtCount(t.gets_total)} · $${t.cost_per_day_usd.toFixed(4)}`),
    h('td.sub', t.last_error ? `${fmtTime(t.last_error_at)}: ${t.last_error}` : '—'),
  ];
}

function copyButton(text) {
  const b = h('button.copy', { type: 'button' }, 'Copy');
  b.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text);
      b.textContent = 'Copied';
    } catch {
      // No clipboard (plain HTTP on another host): select the text for Ctrl-C instead.
      const pre = b.closest('.policy').querySelector('pre');
      window.getSelection().selectAllChildren(pre);
      b.textContent = 'Selected: press Ctrl-C';
    }
  });
  return b;
}

function doctorPanel(d) {
  if (!d) return h('div.sub.doctor', 'No doctor report yet: run `trailwatch doctor` to check the permissions.');
  const rows = d.checks.map((c) => h('tr', { class: c.ok ? '' : 'warn' },
    h('td', c.ok ? h('span.status.status-resolved', 'pass') : h('span.status.status-open', 'fail')),
    h('td.mono', c.permission), h('td.sub', c.resource),
    h('td.sub', [c.error || '—', c.note ? h('div', c.note) : null])));
  return h('div.doctor',
    h('div.acct-sub', `Doctor ${d.ok ? 'passed' : 'found missing permissions'} · ${fmtTime(d.at)}`),
    h('table.sigtable.doctor-checks', h('thead', h('tr', ['', 'Permission', 'Resource', 'Error'].map((x) => h('th', x)))), h('tbody', rows)),
    d.notes.length ? h('ul.notes', d.notes.map((n) => h('li', n))) : null,
    d.policy ? h('div.policy', h('div.policy-head', h('span', 'The IAM policy to add'), copyButton(d.policy)), h('pre', d.policy)) : null);
}

function accountPanel(a, health) {
  const settings = [
    a.regions && a.regions.length ? `regions ${a.regions.join(', ')}` : null,
    a.mode === 'sqs' ? `SQS queue ${a.sqs_queue_url}` : a.mode ? `S3 listing every ${fmtDuration((a.poll_interval_secs || 0) * 1000)}` : null,
    a.role_arn ? `role ${a.role_arn}` : null, a.profile ? `profile ${a.profile}` : null,
  ].filter(Boolean).join(' · ');
  const trailRows = a.trails.map((t) => h('tr', { 'data-trail': t.arn, 'data-status': t.status, class: t.status === 'skipped' ? 'disabled' : '' },
    h('td', h('div', t.name), h('div.sub', `${t.kind} · home ${t.home_region}`)),
    h('td.sub', `s3://${t.bucket}${t.prefix ? '/' + t.prefix : ''}`, t.bucket_region ? h('div', `in ${t.bucket_region}`) : null, t.kms_key_id ? h('div', `KMS ${t.kms_key_id}`) : null),
    h('td', t.status === 'reading' ? h('span.pill.pill-on', 'reading') : [h('span.pill.pill-off', 'skipped'), h('div.sub.why', t.skipped_reason)]),
    t.status === 'reading' ? healthCells(health.get(t.arn)) : h('td.sub', { colspan: 6 }, '—')));
  const when = a.removed_at
    ? `removed from the configuration ${fmtTime(a.removed_at)}: not read; last discovered ${fmtTime(a.discovered_at)}`
    : a.discovered_at ? `discovered ${fmtTime(a.discovered_at)}` : 'not discovered yet';
  return h('section.panel.account', { 'data-account': a.id, 'data-removed': a.removed_at ? 'true' : null },
    h('div.panel-head', h('span.panel-title', `${a.name} (${a.id})`), h('span.sub.acct-when', when)),
    h('div.acct-body',
      settings ? h('div.acct-sub', settings) : null,
      a.selection.length ? h('div.acct-sub.selection', 'Events kept: ', a.selection.join('; ')) : null,
      a.errors.length ? h('div.error-box.discovery-errors', a.errors.map((e) => h('div', e))) : null,
      a.trails.length
        ? h('table.sigtable.acct-trails', h('thead', h('tr', ['Trail', 'Bucket', 'Status', 'Health', 'Last file', 'Lag p50 / p95', 'Files/h / events/h', 'Lists / gets · cost/day', 'Last error'].map((x) => h('th', x)))), h('tbody', trailRows))
        : a.discovered_at ? h('div.empty', 'No trails found in these regions.') : null,
      doctorPanel(a.doctor)));
}

export async function render(root, ctx) {
  const r = await api.get('/api/v1/sources');
  if (!ctx.alive()) return;
  const stat = (label, value, id) => h('div.stat', { id }, h('div.stat-label', label), h('div.stat-value', value));
  const accounts = r.accounts || [];
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
  const health = new Map(trails.map((t) => [t.arn, t]));
  for (const a of accounts) root.append(accountPanel(a, health));
  // Trails with health that no account's last discovery shows (an account since removed, say).
  const shown = new Set(accounts.flatMap((a) => a.trails.map((t) => t.arn)));
  const others = trails.filter((t) => !shown.has(t.arn));
  const trailRows = others.map((t) => h('tr', { 'data-trail': t.arn, class: t.silent || t.last_error ? 'warn' : '' },
    h('td', h('div', t.name), h('div.sub', `${t.account} · s3://${t.bucket}`)),
    h('td', t.silent ? h('span.status.status-open', 'silent') : h('span.status.status-resolved', 'ok')),
    h('td.t', fmtTime(t.last_file_at)), h('td', lag(t)),
    h('td.num', t.files_per_hour.toFixed(1)), h('td.num', fmtCount(Math.round(t.events_per_hour))),
    h('td.num', `${fmtCount(t.lists_total)} / ${fmtCount(t.gets_total)}`), h('td.num', `$${t.cost_per_day_usd.toFixed(4)}`),
    h('td.num', fmtCount(t.events_excluded)),
    h('td.sub', t.last_error ? `${fmtTime(t.last_error_at)}: ${t.last_error}` : '—')));
  if (others.length || !accounts.length) {
    root.append(h('section.panel', h('div.panel-head', h('span.panel-title', accounts.length ? 'Other AWS trails' : 'AWS trails')),
      others.length
        ? h('table.sigtable#trails', h('thead', h('tr', ['Trail', 'Health', 'Last file', 'Lag p50 / p95', 'Files/h', 'Events/h', 'Lists / gets', 'Cost/day', 'Excluded', 'Last error'].map((x) => h('th', x)))), h('tbody', trailRows))
        : h('div.empty', 'No AWS account polled yet: configure [[accounts]] and run `trailwatch serve --config FILE` or `trailwatch poll` (docs/AWS.md); `trailwatch doctor` checks the permissions.')));
  }
}
