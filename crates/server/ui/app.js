// The application shell: login page, navigation, the shared time range, and the router that
// renders one page module at a time. State lives in the URL, so links and Back work.

import * as api from './api.js';
import { h, clear, fmtTime, iso, params } from './util.js';

const PAGES = {
  explorer: { title: 'Explorer', load: () => import('./explorer.js') },
  dashboards: { title: 'Dashboards', load: () => import('./dashboards.js') },
  signals: { title: 'Signals', load: () => import('./signals.js') },
  rules: { title: 'Rules', load: () => import('./rules.js') },
  sources: { title: 'Sources', load: () => import('./sources.js') },
};

const ICONS = { explorer: '⌕', dashboards: '▦', signals: '⚑', rules: '☰', sources: '⇄' };

export const PRESETS = [
  ['-15m', 'Last 15 minutes'], ['-1h', 'Last 1 hour'], ['-4h', 'Last 4 hours'], ['-24h', 'Last 24 hours'],
  ['-7d', 'Last 7 days'], ['-30d', 'Last 30 days'], ['-90d', 'Last 90 days'], ['-365d', 'Last 1 year'], ['', 'All time'],
];

let cleanup = null;
let generation = 0;

function rangeLabel(from, to) {
  const p = PRESETS.find(([v]) => v === (from || ''));
  if (p && !to) return p[1];
  const t = (v) => (/^\d{4}-/.test(v) ? fmtTime(Date.parse(v)).slice(0, 16) : v || 'now');
  return `${t(from) || 'start'} → ${t(to)}`;
}

/** Changes the URL (a history entry unless `replace`) and renders the page again. */
export function navigate(url, replace = false) {
  if (replace) history.replaceState(null, '', url); else history.pushState(null, '', url);
  render();
}

/** The current URL with some parameters changed (null or '' removes one). */
export function withParams(changes, path = location.pathname) {
  const p = params();
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === '') p.delete(k); else p.set(k, v);
  }
  const qs = p.toString();
  return path + (qs ? '?' + qs : '');
}

/** The shared range of the URL: {from, to} as the API takes them. */
export function range() {
  const p = params();
  return { from: p.get('from') || '', to: p.get('to') || '' };
}

/** A link within the app that keeps the shared time range. */
export function link(path, extra = {}, text, cls = '') {
  const { from, to } = range();
  const p = new URLSearchParams();
  if (from) p.set('from', from);
  if (to) p.set('to', to);
  for (const [k, v] of Object.entries(extra)) if (v !== null && v !== undefined && v !== '') p.set(k, v); else p.delete(k);
  const qs = p.toString();
  const url = path + (qs ? '?' + qs : '');
  return h('a' + (cls ? '.' + cls : ''), { href: url, on: { click: (ev) => { if (ev.button || ev.metaKey || ev.ctrlKey) return; ev.preventDefault(); navigate(url); } } }, text);
}

function timePicker() {
  const { from, to } = range();
  const menu = h('div.tp-menu');
  menu.hidden = true;
  const button = h('button.tp-button#time-picker', { type: 'button', title: 'Time range (UTC)', on: { click: () => { menu.hidden = !menu.hidden; } } },
    h('span.tp-icon', '◷'), h('span.tp-label', rangeLabel(from, to)), h('span.caret', '▾'));
  for (const [v, label] of PRESETS) {
    menu.append(h('button.tp-preset', { type: 'button', 'data-range': v || 'all', class: 'tp-preset' + (v === from && !to ? ' active' : ''), on: { click: () => navigate(withParams({ from: v, to: '' })) } }, label));
  }
  const toInput = (v) => (/^\d{4}-/.test(v) ? new Date(Date.parse(v)).toISOString().slice(0, 16) : '');
  const fromIn = h('input#tp-from', { type: 'datetime-local', value: toInput(from) });
  const toIn = h('input#tp-to', { type: 'datetime-local', value: toInput(to) });
  const err = h('div.tp-error');
  menu.append(h('div.tp-abs', h('div.tp-abs-title', 'Absolute (UTC)'),
    h('label', 'From', fromIn), h('label', 'To', toIn), err,
    h('button.primary#tp-apply', { type: 'button', on: { click: () => {
      const f = fromIn.value ? iso(Date.parse(fromIn.value + 'Z')) : '';
      const t = toIn.value ? iso(Date.parse(toIn.value + 'Z')) : '';
      if (f && t && Date.parse(f) >= Date.parse(t)) { err.textContent = 'from must be before to'; return; }
      navigate(withParams({ from: f, to: t }));
    } } }, 'Apply')));
  document.addEventListener('click', (ev) => { if (!menu.hidden && !ev.target.closest('.tp')) menu.hidden = true; });
  return h('div.tp', button, menu);
}

function shell(page) {
  const nav = h('nav.side',
    h('a.brand', { href: '/ui/explorer' }, h('span.logo', '◢'), 'trailwatch'),
    Object.entries(PAGES).map(([id, p]) => link(`/ui/${id}`, {}, [h('span.nav-icon', ICONS[id]), h('span', p.title)], 'nav-item' + (id === page ? '.active' : ''))),
    h('div.side-bottom',
      h('div.user', h('span.avatar', (api.session?.username || '?').slice(0, 1).toUpperCase()), h('span#whoami', api.session?.username || '')),
      h('button.link#logout', { type: 'button', on: { click: () => api.logout() } }, 'Log out')));
  const header = h('header.top', h('h1#page-title', PAGES[page]?.title || 'Not found'), h('div.top-right', timePicker()));
  const content = h('div.content#content');
  return { root: h('div.layout', nav, h('main', header, content)), content, header };
}

async function loginPage(root) {
  const err = h('div.login-error#login-error');
  const user = h('input#username', { name: 'username', autocomplete: 'username', placeholder: 'admin', required: true });
  const pass = h('input#password', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const form = h('form.login-card#login-form',
    h('div.login-brand', h('span.logo', '◢'), 'trailwatch'),
    h('div.login-sub', 'CloudTrail security monitoring'),
    h('label', 'Username', user), h('label', 'Password', pass), err,
    h('button.primary#login-submit', { type: 'submit' }, 'Log in'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    try {
      await api.login(user.value.trim(), pass.value);
      const next = params().get('next');
      location.assign(next && next.startsWith('/ui') ? next : '/ui/explorer');
    } catch (e) {
      err.textContent = e.message;
    }
  });
  clear(root).append(h('div.login-page', form));
  user.focus();
}

async function render() {
  const root = document.getElementById('app');
  if (cleanup) { try { cleanup(); } catch (_) { /* the page is gone anyway */ } cleanup = null; }
  const gen = ++generation;
  if (location.pathname === '/login') return loginPage(root);
  const [, , name, ...rest] = location.pathname.split('/');
  const page = PAGES[name] ? name : null;
  // The session is asked for at the same time as the page's module and its data: no round trip
  // before the first data request. Without a session, this answer or a 401 on any data request
  // (api.js) leads to the login page.
  const loading = page ? PAGES[page].load() : null;
  if (!api.session) {
    api.loadSession().then((s) => {
      if (!s) { api.toLogin(); return; }
      for (const el of document.querySelectorAll('#whoami')) el.textContent = s.username;
      for (const el of document.querySelectorAll('.user .avatar')) el.textContent = s.username.slice(0, 1).toUpperCase();
    }, () => api.toLogin());
  }
  const { root: layout, content, header } = shell(page);
  clear(root).append(layout);
  document.title = `${PAGES[page]?.title || 'Not found'} · trailwatch`;
  if (!page) { content.append(h('div.empty', 'no such page')); return; }
  const mod = await loading;
  if (gen !== generation) return;
  const ctx = {
    rest: rest.map(decodeURIComponent),
    params: params(),
    range: range(),
    header,
    alive: () => gen === generation,
    setTitle: (t) => { header.querySelector('h1').textContent = t; document.title = `${t} · trailwatch`; },
  };
  try {
    cleanup = (await mod.render(content, ctx)) || null;
  } catch (e) {
    if (e.status !== 401) content.append(h('div.error-box', e.message));
  }
}

window.addEventListener('popstate', render);
render();
