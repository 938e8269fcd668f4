// The admin API, as the console's session uses it: the session cookie goes
// with every request, and state-changing requests carry the CSRF token.

let csrf = '';
let sessionExpires = null;

/** ApiError is a failed API request: its HTTP status and decoded body. */
export class ApiError extends Error {
  constructor(status, body, path) {
    super(body?.error || `${status} ${statusText(status)}`);
    this.status = status;
    this.body = body;
    this.path = path;
  }
}

function statusText(s) {
  return { 400: 'bad request', 401: 'not signed in', 403: 'forbidden', 404: 'not found',
    409: 'conflict', 422: 'invalid', 429: 'too many requests', 500: 'server error',
    502: 'bad gateway', 503: 'unavailable' }[s] ?? 'error';
}

/** loadSession reads the CSRF token; without a session it goes to sign-in. */
export async function loadSession() {
  const res = await fetch('/ui/session', { credentials: 'same-origin', cache: 'no-store' });
  if (res.status === 401) {
    signedOut();
    return null;
  }
  if (!res.ok) throw new ApiError(res.status, null, '/ui/session');
  const s = await res.json();
  csrf = s.csrf;
  sessionExpires = s.expires ? new Date(s.expires) : null;
  return s;
}

export function expires() { return sessionExpires; }

/** signedOut sends the browser to the sign-in page. */
export function signedOut() {
  window.location.assign('/ui/login');
}

/**
 * request calls the API. body is sent as JSON. It resolves to the decoded
 * JSON (or null for an empty body) and rejects with an ApiError for any
 * status other than 2xx; a 401 also sends the browser to the sign-in page.
 */
export async function request(method, path, body, { signal } = {}) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrf;
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store', signal };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { error: text.trim().split('\n')[0] }; }
  }
  if (res.status === 401) {
    signedOut();
    throw new ApiError(401, data, path);
  }
  if (!res.ok) throw new ApiError(res.status, data, path);
  return data;
}

export const get = (path, opts) => request('GET', path, undefined, opts);
export const post = (path, body, opts) => request('POST', path, body ?? {}, opts);
export const put = (path, body, opts) => request('PUT', path, body, opts);
export const del = (path, opts) => request('DELETE', path, undefined, opts);

/** logout ends the session and goes to the sign-in page. */
export async function logout() {
  try {
    await fetch('/ui/logout', { method: 'POST', headers: { 'X-CSRF-Token': csrf }, credentials: 'same-origin' });
  } finally {
    signedOut();
  }
}

/** qs builds a query string from the non-empty values of params. */
export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

export const enc = encodeURIComponent;
