// The care API client: JSON over fetch with the session token, and the live stream.
// The server also sets the HttpOnly yulan_session cookie; the token is kept in this tab
// (sessionStorage) and sent as a bearer too, so the page works where cookies are blocked
// for the fetch calls. EventSource cannot send headers: the stream relies on the cookie.

const TOKEN_KEY = 'yulan.care.token';

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.message || body.error)) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // private mode without storage: the cookie still carries the session
  }
}

export async function api(method, path, body, extraHeaders = {}) {
  const headers = { accept: 'application/json', ...extraHeaders };
  const token = getToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, { message: String(err && err.message) });
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text.slice(0, 200) };
    }
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export const login = (loginName, password) => api('POST', '/api/v1/auth/login', { login: loginName, password });
export const logout = () => api('POST', '/api/v1/auth/logout').catch(() => null);
export const me = () => api('GET', '/api/v1/me');
const enc = encodeURIComponent;

/** Tolerates `{items}`, `{alerts}` or a bare array (the list route's wrapper). */
export async function listAlerts() {
  const data = await api('GET', '/api/v1/alerts?limit=100');
  return Array.isArray(data) ? data : data?.items ?? data?.alerts ?? [];
}
export const alertDetail = (id) => api('GET', `/api/v1/alerts/${enc(id)}`);
export const ack = (id) => api('POST', `/api/v1/alerts/${enc(id)}/ack`);
export const resolve = (id, outcome, note) => api('POST', `/api/v1/alerts/${enc(id)}/resolve`, note ? { outcome, note } : { outcome });
export const receipt = (deliveryId) => api('POST', `/api/v1/notifications/${enc(deliveryId)}/receipt`).catch(() => null);
/** The resident's address and phone and the other contacts' phones (urgent alert card).
 * The purpose names the alert, so the audit log says why the numbers were read. */
export const contacts = (residentId, alertId) =>
  api('GET', `/api/v1/residents/${enc(residentId)}/contacts`, undefined, { 'x-yulan-purpose': `care: acting on alert ${alertId}` });
export const activity = (residentId) => api('GET', `/api/v1/residents/${enc(residentId)}/activity?limit=200`);

/**
 * Opens the live stream. `on.alert(summary)`, `on.page(payload)`, `on.state('live'|'down')`.
 * EventSource reconnects by itself; a stream the server refuses (401) ends in CLOSED,
 * which is reported as `on.closed()` so the page can ask for a new sign-in.
 */
export function openStream(on) {
  const es = new EventSource('/api/v1/care/stream');
  const parse = (ev) => {
    try {
      return JSON.parse(ev.data);
    } catch {
      return null;
    }
  };
  es.addEventListener('open', () => on.state('live'));
  es.addEventListener('alert', (ev) => {
    const d = parse(ev);
    if (d) on.alert(d.alert ?? d);
  });
  es.addEventListener('page', (ev) => {
    const d = parse(ev);
    if (d) on.page(d);
  });
  es.addEventListener('error', () => {
    on.state('down');
    if (es.readyState === EventSource.CLOSED) on.closed();
  });
  return es;
}
