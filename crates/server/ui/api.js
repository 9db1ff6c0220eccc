// The HTTP API as the UI uses it: JSON in and out, the session's CSRF token on every
// state-changing request, and back to the login page when the session is gone.

let csrf = null;
export let session = null;

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : `HTTP ${status}`);
    this.status = status;
    this.column = body && body.column;
  }
}

export function toLogin() {
  const back = location.pathname + location.search;
  location.assign('/login?next=' + encodeURIComponent(back));
}

async function call(method, path, params, body) {
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, v);
  }
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && !csrf && pending) await pending.catch(() => null);
  if (method !== 'GET' && csrf) headers['X-CSRF-Token'] = csrf;
  const r = await fetch(u, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  let data = null;
  try { data = await r.json(); } catch (_) { /* an empty or non-JSON body */ }
  if (r.status === 401 && path !== '/api/v1/login') { toLogin(); throw new ApiError(401, data); }
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

export const get = (path, params) => call('GET', path, params);
export const post = (path, body) => call('POST', path, undefined, body ?? {});
export const put = (path, body) => call('PUT', path, undefined, body);
export const del = (path) => call('DELETE', path);

// The session request in flight, if any: pages send their reads without waiting for it (a 401
// on them leads to the login page as well), and state-changing calls wait for its CSRF token.
let pending = null;

/** Loads the session (and its CSRF token); null when not logged in. */
export function loadSession() {
  if (pending) return pending;
  pending = (async () => {
    const r = await fetch('/api/v1/session', { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    if (!r.ok) return null;
    session = await r.json();
    csrf = session.csrf || null;
    return session;
  })().finally(() => { pending = null; });
  return pending;
}

export async function login(username, password) {
  const data = await call('POST', '/api/v1/login', undefined, { username, password });
  csrf = data.csrf;
  session = data;
  return data;
}

export async function logout() {
  try { await post('/api/v1/logout'); } finally { location.assign('/login'); }
}

const enc = encodeURIComponent;
export const paths = {
  event: (id) => `/api/v1/events/${enc(id)}`,
  signal: (id) => `/api/v1/signals/${enc(id)}`,
  signalStatus: (id) => `/api/v1/signals/${enc(id)}/status`,
  rule: (id) => `/api/v1/rules/${enc(id)}`,
  ruleEnabled: (id) => `/api/v1/rules/${enc(id)}/enabled`,
  ruleReplay: (id) => `/api/v1/rules/${enc(id)}/replay`,
  dashboard: (id) => `/api/v1/dashboards/${enc(id)}`,
};
