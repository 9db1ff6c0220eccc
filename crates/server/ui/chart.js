// Charts in SVG: stacked bar time series (drag to zoom, click a bar, signal markers) and
// horizontal top lists.

import { h, s, clear, fmtTime, fmtCount } from './util.js';

export const PALETTE = ['#7c9cff', '#4fd1c5', '#f6ad55', '#f687b3', '#9f7aea', '#68d391', '#fc8181', '#63b3ed', '#faf089', '#b794f4'];
const OTHER = '#4a5568';
const SEV = { critical: '#ff4d6d', high: '#ff8c42', medium: '#ffd166', low: '#4fd1c5', info: '#8b9bb4' };

/** The smallest round number at or above v whose quarters are whole (the grid lines). */
function niceMax(v, parts) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 4, 5, 8, 10]) if (m * p >= v && Number.isInteger((m * p) / parts)) return m * p;
  return Math.ceil(v / parts) * parts;
}

function timeLabel(ms, span) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, '0');
  const day = `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}`;
  if (span > 3 * 86400000) return day.slice(5);
  const hm = `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}`;
  return span > 86400000 ? `${day.slice(5)} ${hm}` : hm;
}

/**
 * A stacked bar chart of a histogram answer in `el`.
 * opts: height, onZoom(fromMs, toMs), onClick(fromMs, toMs, seriesValue), markers [{time, severity, title}],
 * legend (default true), label(value) for series names.
 */
export function timeseries(el, hist, opts = {}) {
  clear(el);
  el.classList.add('chart');
  const series = hist.series || [];
  if (!hist.start || !series.length) { el.append(h('div.empty', 'no events in this range')); return; }
  const n = series[0].counts.length;
  const W = Math.max(el.clientWidth || 600, 200), H = opts.height || 160;
  const m = { l: 44, r: 8, t: 10, b: 20 };
  const pw = W - m.l - m.r, ph = H - m.t - m.b;
  const totals = Array.from({ length: n }, (_, i) => series.reduce((a, x) => a + x.counts[i], 0));
  const ymax = niceMax(Math.max(4, ...totals), 4);
  const bw = pw / n;
  const t0 = hist.start, dt = hist.interval_ms, span = n * dt;
  const color = (x, k) => (x.value === null && series.length > 1 ? OTHER : PALETTE[k % PALETTE.length]);
  const svg = s('svg', { width: W, height: H, class: 'ts', role: 'img' });
  for (let k = 0; k <= 4; k++) {
    const y = m.t + ph - (ph * k) / 4;
    svg.append(s('line', { x1: m.l, x2: W - m.r, y1: y, y2: y, class: 'grid' }));
    svg.append(s('text', { x: m.l - 6, y: y + 3, class: 'axis', 'text-anchor': 'end' }, fmtCount((ymax * k) / 4)));
  }
  const ticks = Math.min(n, Math.max(2, Math.floor(pw / 110)));
  for (let k = 0; k < ticks; k++) {
    const i = Math.round((k * (n - 1)) / Math.max(1, ticks - 1));
    svg.append(s('text', { x: m.l + i * bw + bw / 2, y: H - 5, class: 'axis', 'text-anchor': 'middle' }, timeLabel(t0 + i * dt, span)));
  }
  const bars = s('g', { class: 'bars' });
  for (let i = 0; i < n; i++) {
    let acc = 0;
    series.forEach((x, k) => {
      const c = x.counts[i];
      if (!c) return;
      const y0 = m.t + ph - (ph * acc) / ymax;
      acc += c;
      const y1 = m.t + ph - (ph * acc) / ymax;
      bars.append(s('rect', { x: m.l + i * bw + (bw > 4 ? 1 : 0), y: y1, width: Math.max(1, bw - (bw > 4 ? 2 : 0)), height: Math.max(0.5, y0 - y1), fill: color(x, k) }));
    });
  }
  svg.append(bars);
  for (const mk of opts.markers || []) {
    if (mk.time < t0 || mk.time >= t0 + span) continue;
    const x = m.l + ((mk.time - t0) / span) * pw;
    svg.append(s('line', { x1: x, x2: x, y1: m.t, y2: m.t + ph, class: 'marker-line', stroke: SEV[mk.severity] || SEV.info }));
    svg.append(s('path', { d: `M${x - 5},${m.t - 2} L${x + 5},${m.t - 2} L${x},${m.t + 6} Z`, fill: SEV[mk.severity] || SEV.info, class: 'marker' },
      s('title', {}, `${mk.severity}: ${mk.title} (${fmtTime(mk.time)})`)));
  }
  const sel = s('rect', { class: 'selection', y: m.t, height: ph, width: 0, x: 0, visibility: 'hidden' });
  const hover = s('rect', { class: 'hover', y: m.t, height: ph, width: bw, x: 0, visibility: 'hidden' });
  svg.append(hover, sel);
  const tip = h('div.tip');
  tip.hidden = true;
  const wrap = h('div.chart-wrap', svg, tip);
  el.append(wrap);
  const xAt = (ev) => Math.min(W - m.r, Math.max(m.l, ev.clientX - svg.getBoundingClientRect().left));
  const bucketAt = (x) => Math.min(n - 1, Math.max(0, Math.floor((x - m.l) / bw)));
  const timeAt = (x) => t0 + ((x - m.l) / pw) * span;
  let down = null;
  svg.addEventListener('mousedown', (ev) => { down = xAt(ev); ev.preventDefault(); });
  svg.addEventListener('mousemove', (ev) => {
    const x = xAt(ev), i = bucketAt(x);
    hover.setAttribute('x', m.l + i * bw); hover.setAttribute('visibility', 'visible');
    if (down !== null) {
      sel.setAttribute('x', Math.min(down, x)); sel.setAttribute('width', Math.abs(x - down)); sel.setAttribute('visibility', 'visible');
    }
    clear(tip).append(h('div.tip-time', fmtTime(t0 + i * dt)));
    series.forEach((x2, k) => {
      if (x2.counts[i]) tip.append(h('div.tip-row', h('i.swatch', { 'data-c': k }), h('span', opts.label ? opts.label(x2.value) : (x2.value ?? 'other')), h('b', fmtCount(x2.counts[i]))));
    });
    tip.querySelectorAll('i.swatch').forEach((sw) => { sw.style.background = color(series[+sw.dataset.c], +sw.dataset.c); });
    tip.hidden = false;
    const left = x + 12 + 180 > W ? x - 190 : x + 12;
    tip.style.left = left + 'px';
  });
  svg.addEventListener('mouseleave', () => { hover.setAttribute('visibility', 'hidden'); tip.hidden = true; });
  window.addEventListener('mouseup', function up(ev) {
    if (!svg.isConnected) { window.removeEventListener('mouseup', up); return; }
    if (down === null) return;
    const x = xAt(ev), x0 = down;
    down = null;
    sel.setAttribute('visibility', 'hidden');
    if (Math.abs(x - x0) > 4 && opts.onZoom) {
      opts.onZoom(Math.floor(timeAt(Math.min(x, x0))), Math.ceil(timeAt(Math.max(x, x0))));
    } else if (opts.onClick && Math.abs(x - x0) <= 4 && ev.target.closest && ev.target.closest('svg') === svg) {
      const i = bucketAt(x);
      opts.onClick(t0 + i * dt, t0 + (i + 1) * dt);
    }
  });
  if (opts.legend !== false && (series.length > 1 || series[0].value !== null)) {
    const lg = h('div.legend');
    series.forEach((x, k) => {
      const sw = h('i.swatch');
      sw.style.background = color(x, k);
      const total = x.counts.reduce((a, b) => a + b, 0);
      lg.append(h('span.legend-item', { title: String(x.value ?? 'other') }, sw, opts.label ? opts.label(x.value) : (x.value ?? 'other'), h('b', fmtCount(total))));
    });
    el.append(lg);
  }
}

/** Horizontal bars of a facet answer; onPick(value) on click. */
export function toplist(el, facet, onPick) {
  clear(el);
  const values = facet.values || [];
  if (!values.length) { el.append(h('div.empty', 'no values')); return; }
  const max = Math.max(...values.map((v) => v.count));
  const list = h('div.toplist');
  for (const v of values) {
    const bar = h('div.tl-bar');
    bar.style.width = `${(100 * v.count) / max}%`;
    list.append(h('div.tl-row', { title: v.value, on: { click: () => onPick && onPick(v.value) } },
      h('div.tl-label', bar, h('span', v.value)), h('div.tl-count', fmtCount(v.count))));
  }
  el.append(list);
}

export { SEV };
