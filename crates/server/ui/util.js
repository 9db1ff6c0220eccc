// Small helpers shared by every page: building elements, formatting, the URL's state, and
// Performance API marks.

/**
 * Marks a moment of a page's loading on the Performance timeline (`tw:explorer:list`…), for
 * `xtask ui-bench` and for anyone reading the browser's performance panel. Only the latest of
 * each name is kept, so a page refreshed by the live tail for hours keeps a handful of marks.
 */
export function mark(name) {
  performance.clearMarks(name);
  performance.mark(name);
}

/** h('div.cls#id', {attrs, on: {click}}, ...children): an element. Text children are escaped. */
export function h(tag, attrs, ...children) {
  const m = tag.match(/^([a-z0-9]+)?((?:[.#][\w-]+)*)$/i);
  const el = document.createElement(m[1] || 'div');
  for (const part of (m[2] || '').match(/[.#][\w-]+/g) || []) {
    if (part[0] === '.') el.classList.add(part.slice(1)); else el.id = part.slice(1);
  }
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** An SVG element with attributes. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

export function clear(el) { while (el.firstChild) el.firstChild.remove(); return el; }

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** 2024-08-01 13:35:12 (UTC). */
export function fmtTime(ms, withMs = false) {
  if (ms === null || ms === undefined) return '—';
  const d = new Date(ms);
  const t = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  return withMs ? `${t}.${pad(d.getUTCMilliseconds(), 3)}` : t;
}

/** An ISO-8601 time the API takes (seconds, UTC). */
export function iso(ms) { return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'); }

export function fmtAgo(ms) {
  if (!ms) return '—';
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined) return '—';
  const s = Math.abs(ms) / 1000;
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.round(s / 60)}m`;
  if (s < 86400) return `${(s / 3600).toFixed(1).replace(/\.0$/, '')}h`;
  return `${(s / 86400).toFixed(1).replace(/\.0$/, '')}d`;
}

export function fmtCount(n) {
  if (n === null || n === undefined) return '—';
  if (n >= 1e9) return (n / 1e9).toFixed(1).replace(/\.0$/, '') + 'B';
  if (n >= 1e6) return (n / 1e6).toFixed(1).replace(/\.0$/, '') + 'M';
  if (n >= 1e4) return (n / 1e3).toFixed(1).replace(/\.0$/, '') + 'k';
  return n.toLocaleString('en-US');
}

/** A value as the query language needs it after `field:`: bare when safe, else quoted. */
export function quote(v) {
  const t = String(v);
  if (/^[\w.\-/@+=,]+$/.test(t) && !/^(AND|OR|NOT|TO)$/.test(t)) return t;
  return '"' + t.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

/** The query with `field:value` added (or `-field:value` when excluding), replacing its opposite. */
export function addTerm(query, field, value, exclude = false) {
  const term = `${field}:${quote(value)}`;
  const tokens = [term, '-' + term];
  let q = ` ${query.trim()} `;
  for (const t of tokens) q = q.split(` ${t} `).join(' ');
  q = q.trim();
  return (q ? q + ' ' : '') + (exclude ? '-' : '') + term;
}

/** The page's state in the URL's query string. */
export function params() { return new URLSearchParams(location.search); }

/** Navigates within the app (history entry), keeping the range unless given. */
export function href(path, p = {}) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(p)) if (v !== undefined && v !== null && v !== '') u.set(k, v);
  const qs = u.toString();
  return path + (qs ? '?' + qs : '');
}

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'];

export function sevBadge(sev) { return h(`span.sev.sev-${sev}`, sev); }
export function statusBadge(st) { return h(`span.status.status-${st}`, st); }

export function debounce(fn, ms) {
  let t;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}
