// The care page's data: the signed-in person's alerts, per-alert UI state, and the
// contacts of residents with an urgent open alert. Every change calls hooks.render();
// a request refused for want of a session calls hooks.signInAgain().

import * as api from './api.js';
import { t } from './i18n.js';
import { isOpen } from './render.js';

/** Set by care.js: re-render from `state`, and go back to sign-in. */
export const hooks = { render: () => {}, signInAgain: () => {} };

/** Per-person state; sign-out replaces it whole (contacts and names are personal data). */
export const fresh = () => ({
  me: null, residents: [], alerts: new Map(), ui: new Map(), residentUi: new Map(), names: new Map(),
  // 'loading' | 'ok' | 'error': "No open alerts" is said only about a list that loaded.
  alertsLoad: 'loading', alertsError: null,
  // alert ids seen open here: they stay at the top after they close ("just resolved")
  seenOpen: new Set(),
  // residentId → { state: 'loading'|'ok'|'denied'|'error', data, alertId }
  contacts: new Map(),
});
export const state = { ...fresh(), stream: null, live: 'down' };
export const uiOf = (id) => {
  if (!state.ui.has(id)) state.ui.set(id, { busy: false, error: null, notice: null, timelineOpen: false, timeline: null });
  return state.ui.get(id);
};

/** Live summaries name the claimer ({userId, name}); the REST views carry only the id. */
function claimer(c) {
  if (!c) return null;
  if (typeof c === 'string') return { userId: c, name: state.names.get(c) ?? c };
  if (c.name && c.name !== c.userId) state.names.set(c.userId, c.name);
  return { userId: c.userId, name: state.names.get(c.userId) ?? c.name ?? c.userId };
}

export function upsert(summary) {
  if (!summary || !summary.id) return false;
  const isNew = !state.alerts.has(summary.id);
  const merged = { ...state.alerts.get(summary.id), ...summary };
  merged.claimedBy = claimer(summary.claimedBy);
  state.alerts.set(summary.id, merged);
  wantContacts(merged);
  return isNew;
}

/** An urgent open alert's card shows whom to phone: read once per alert (audited). */
function wantContacts(a) {
  if (a.level !== 'urgent' || !isOpen(a) || !a.residentId) return;
  const have = state.contacts.get(a.residentId);
  if (have && have.state !== 'error' && have.alertId === a.id) return;
  if (have?.state === 'loading') return;
  const entry = { state: 'loading', data: have?.data ?? null, alertId: a.id };
  if (have?.state === 'ok') entry.state = 'ok'; // keep showing the numbers while they refresh
  state.contacts.set(a.residentId, entry);
  void (async () => {
    try {
      entry.data = await api.contacts(a.residentId, a.id);
      entry.state = 'ok';
    } catch (err) {
      if (err.status === 401) return void hooks.signInAgain();
      // 403/404: not this person's to read; the card is shown without them.
      entry.state = err.status === 403 || err.status === 404 ? 'denied' : 'error';
    }
    if (state.contacts.get(a.residentId) === entry) hooks.render();
  })();
}

/** The alert's detail (events, timeline). Calls that arrive while one is running are
 * folded into one more, so the last answer is never older than the last call. */
export async function refreshDetail(id) {
  const ui = uiOf(id);
  if (ui.refreshing) {
    ui.refreshAgain = true;
    return ui.refreshing;
  }
  ui.refreshing = (async () => {
    do {
      ui.refreshAgain = false;
      try {
        const d = await api.alertDetail(id);
        upsert(d.alert ?? d);
        for (const p of d.people ?? []) state.names.set(p.userId ?? p.id, p.name);
        ui.timeline = d.timeline ?? [];
      } catch (err) {
        if (err.status === 401) return void hooks.signInAgain();
        ui.error = t('actionFailed', { message: err.message });
      }
      hooks.render();
    } while (ui.refreshAgain);
  })();
  try {
    await ui.refreshing;
  } finally {
    ui.refreshing = null;
  }
}

/** Loads the alert list; false when the session is gone (the caller signs in again). */
export async function loadAlerts() {
  state.alertsLoad = 'loading';
  hooks.render();
  try {
    for (const a of await api.listAlerts()) upsert(a);
    state.alertsLoad = 'ok';
  } catch (err) {
    if (err.status === 401) return false;
    state.alertsLoad = 'error';
    state.alertsError = err.message;
  }
  hooks.render();
  return true;
}
