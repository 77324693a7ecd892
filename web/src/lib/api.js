// The console talks to the same HTTP API as the CLI, signed in by an
// HttpOnly cookie. Requests that change something carry the anti-forgery
// token the server gave at sign-in (also readable from the postern_csrf
// cookie after a reload). Errors are the server's own JSON {code, message}.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let csrf = '';
let signedOut = () => {};

function cookie(name) {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return '';
}

export function setCsrfToken(t) {
  csrf = t || '';
}

// onSignedOut registers what happens when the server answers 401.
export function onSignedOut(fn) {
  signedOut = fn;
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

export async function api(path, { method = 'GET', body, params, raw = false, signal } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') {
    const t = csrf || cookie('postern_csrf');
    if (t) headers['X-Postern-CSRF'] = t;
  }
  let res;
  try {
    res = await fetch(path + query(params), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      signal,
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'NetworkError', `Cannot reach the Postern server (${e.message}). Check your connection and try again.`);
  }
  if (!res.ok) {
    let code = '';
    let message = `${res.status} ${res.statusText}`;
    try {
      const j = await res.json();
      code = j.code || '';
      message = j.message || message;
    } catch {
      /* not JSON */
    }
    if (res.status === 401 && !path.startsWith('/v1/console/')) signedOut();
    throw new ApiError(res.status, code, message);
  }
  if (raw) return res;
  if (res.status === 204) return null;
  const ct = res.headers.get('Content-Type') || '';
  return ct.includes('json') ? res.json() : res.text();
}

export const sessionPath = (id) => `/v1/sessions/${encodeURIComponent(id)}`;
