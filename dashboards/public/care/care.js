// Yulan care page: family members and community workers see their residents, get live
// alerts and claim them with one tap. Plain ES modules, no build step. State lives in
// alert-data.js; every change re-renders the lists from it (small lists; focus is
// restored by data-key).

import * as api from './api.js';
import { fresh, hooks, loadAlerts, refreshDetail, state, uiOf, upsert } from './alert-data.js';
import { currentLang, initialLang, setLang, t } from './i18n.js';
import { alertCard, alertText, isOpen, residentCard, roleLabel, sortAlerts, tickElapsed } from './render.js';

const $ = (id) => document.getElementById(id);

function announce(text, urgent) {
  // Cleared first so that the same text twice is announced twice.
  const region = urgent ? $('announce-urgent') : $('announce');
  region.textContent = '';
  setTimeout(() => { region.textContent = text; }, 50);
}

function show(view) {
  $('login').hidden = view !== 'login';
  $('app').hidden = view !== 'app';
  $('signout').hidden = view !== 'app';
}

function renderAll() {
  const focusKey = document.activeElement?.dataset?.key;
  const all = sortAlerts([...state.alerts.values()]);
  for (const a of all) if (isOpen(a)) state.seenOpen.add(a.id);
  // Open alerts and those settled while on screen form one list; closed history goes
  // below its own heading. So "No open alerts" never sits above an open or just-resolved
  // card, and is never said before the list has loaded (nor when it failed to).
  const current = all.filter((a) => state.seenOpen.has(a.id));
  const earlier = all.filter((a) => !state.seenOpen.has(a.id)).slice(0, 30);
  const card = (a) => alertCard(a, state.me, uiOf(a.id), state.names, a.residentId ? state.contacts.get(a.residentId) : undefined);
  $('alert-list').replaceChildren(...current.map(card));
  $('alert-history').replaceChildren(...earlier.map(card));
  $('history').hidden = earlier.length === 0;
  $('alerts-loading').hidden = state.alertsLoad !== 'loading';
  $('alerts-error').hidden = state.alertsLoad !== 'error';
  $('alerts-error-text').textContent = state.alertsLoad === 'error' ? t('alertsFailed', { message: state.alertsError }) : '';
  $('no-alerts').hidden = !(state.alertsLoad === 'ok' && current.length === 0);
  const openBy = new Map();
  for (const a of state.alerts.values()) if (isOpen(a) && a.residentId) openBy.set(a.residentId, (openBy.get(a.residentId) ?? 0) + 1);
  $('resident-list').replaceChildren(...state.residents.map((r) => {
    if (!state.residentUi.has(r.id)) state.residentUi.set(r.id, { open: false, data: null, error: null });
    return residentCard(r, openBy.get(r.id) ?? 0, state.residentUi.get(r.id));
  }));
  $('no-residents').hidden = state.residents.length > 0;
  $('whoami').textContent = state.me ? t('signedInAs', { name: state.me.name, role: roleLabel(state.me.role) }) : '';
  $('live').textContent = state.live === 'live' ? t('live') : t('reconnecting');
  $('live').dataset.state = state.live;
  if (focusKey) document.querySelector(`[data-key="${CSS.escape(focusKey)}"]`)?.focus();
}


async function onAck(id) {
  const ui = uiOf(id);
  ui.busy = true;
  ui.error = null;
  renderAll();
  try {
    const res = await api.ack(id);
    const a = state.alerts.get(id);
    if (!upsert(res?.alert ?? (res?.id ? res : null)) && a && a.status !== 'acknowledged') {
      // The route's answer carried no summary: record the claim we just made.
      state.alerts.set(id, { ...a, status: 'acknowledged', claimedBy: { userId: state.me.id, name: state.me.name } });
    }
    ui.notice = t('claimedByYou');
  } catch (err) {
    if (err.status === 409) {
      // The 409 names the holder in its message ("… already claimed by <name>").
      const holder = err.body?.claimedBy?.name ?? /claimed by (.+)$/.exec(err.message)?.[1] ?? err.message;
      ui.error = t('alreadyClaimed', { name: holder });
    } else ui.error = t('actionFailed', { message: err.message });
  }
  ui.busy = false;
  renderAll();
  await refreshDetail(id);
}

async function onResolve(id, form) {
  const ui = uiOf(id);
  ui.busy = true;
  ui.error = null;
  renderAll();
  try {
    const note = form.note.value.trim();
    const res = await api.resolve(id, form.outcome.value, note || undefined);
    upsert(res?.alert ?? (res?.id ? res : null));
    ui.notice = null;
  } catch (err) {
    ui.error = t('actionFailed', { message: err.message });
  }
  ui.busy = false;
  await refreshDetail(id);
}

async function toggleActivity(id) {
  const ui = state.residentUi.get(id);
  ui.open = !ui.open;
  renderAll();
  if (!ui.open) return;
  try {
    ui.data = await api.activity(id);
    ui.error = null;
  } catch (err) {
    ui.error = t('actionFailed', { message: err.message });
  }
  renderAll();
}

function startStream() {
  state.stream?.close();
  state.stream = api.openStream({
    state: (s) => {
      state.live = s;
      // Back online after the list failed to load: load it now.
      if (s === 'live' && state.alertsLoad === 'error') void loadAlerts().then((ok) => ok || boot());
      renderAll();
    },
    alert: (summary) => {
      const isNew = upsert(summary);
      if (isNew) announce(t('newAlert', { text: alertText(summary) }), summary.level === 'urgent');
      // The live summary carries no device events: a change may be a new press or fall,
      // so an open card (or an open timeline) re-reads the detail.
      if (isOpen(summary) || state.ui.get(summary.id)?.timelineOpen) void refreshDetail(summary.id);
      renderAll();
    },
    page: (p) => {
      if (upsert(p.alert)) void refreshDetail(p.alert.id);
      // Receipt: the ladder's record that this person's page reached an open screen.
      if (p.deliveryId) void api.receipt(p.deliveryId);
      if (p.kind === 'page' || p.kind === 'reminder') announce(t('pageArrived', { text: alertText(p.alert) }), true);
      else if (p.kind === 'update') announce(t('updateArrived', { text: alertText(p.alert) }), true);
      renderAll();
    },
    closed: () => void boot(),
  });
}

async function enter(meBody) {
  state.me = meBody.user ?? null;
  if (state.me) state.names.set(state.me.id, state.me.name);
  state.residents = meBody.residents ?? [];
  // The account's language applies unless this browser already chose one.
  if (state.me?.locale && !hasStoredLang()) {
    setLang(state.me.locale);
    syncLangButton();
  }
  show('app');
  // The login form may have left the page scrolled (a phone's keyboard pushes it up):
  // start the app at the top, and focus without scrolling, so the "signed in as" and
  // live lines are in view below the sticky header rather than under it.
  window.scrollTo(0, 0);
  $('main').focus({ preventScroll: true });
  if (!(await loadAlerts())) return boot();
  startStream();
}

async function boot() {
  state.stream?.close();
  try {
    await enter(await api.me());
  } catch {
    api.setToken(null);
    show('login');
  }
}

async function onLogin(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  const err = $('login-error');
  const button = form.querySelector('button[type="submit"]');
  err.textContent = '';
  button.disabled = true;
  button.textContent = t('signingIn');
  try {
    const res = await api.login(form.login.value.trim(), form.password.value);
    api.setToken(res.token);
    form.password.value = '';
    await enter(await api.me());
  } catch (e) {
    err.textContent = e.status === 429 ? t('loginLimited') : e.status === 0 ? t('networkError') : t('loginFailed');
  }
  button.disabled = false;
  button.textContent = t('signIn');
}

function wire() {
  $('login-form').addEventListener('submit', onLogin);
  $('lang').addEventListener('click', () => {
    setLang(currentLang() === 'en' ? 'zh-CN' : 'en', true);
    syncLangButton();
    if (!$('app').hidden) renderAll();
  });
  $('signout').addEventListener('click', async () => {
    state.stream?.close();
    await api.logout();
    api.setToken(null);
    Object.assign(state, fresh());
    show('login');
    $('login-id').focus();
  });
  // One delegated listener per list: cards are re-rendered, listeners are not lost.
  document.addEventListener('click', (ev) => {
    const btn = ev.target.closest('button[data-action]');
    if (!btn) return;
    const id = btn.dataset.id;
    if (btn.dataset.action === 'ack') void onAck(id);
    if (btn.dataset.action === 'activity') void toggleActivity(id);
    if (btn.dataset.action === 'reload-alerts') void loadAlerts().then((ok) => ok || boot());
    if (btn.dataset.action === 'timeline') {
      const ui = uiOf(id);
      ui.timelineOpen = !ui.timelineOpen;
      renderAll();
      if (ui.timelineOpen) void refreshDetail(id);
    }
  });
  document.addEventListener('submit', (ev) => {
    const form = ev.target.closest('form[data-action="resolve"]');
    if (!form) return;
    ev.preventDefault();
    void onResolve(form.dataset.id, form);
  });
  // Keep half-typed resolve input across re-renders.
  document.addEventListener('input', (ev) => {
    const n = ev.target;
    if (!n.dataset?.id || !(n.name === 'note' || n.name === 'outcome')) return;
    uiOf(n.dataset.id)[n.name] = n.value;
  });
  setInterval(() => tickElapsed(document), 10_000);
}

function hasStoredLang() {
  try {
    return localStorage.getItem('yulan.care.lang') !== null;
  } catch {
    return false;
  }
}

function syncLangButton() {
  const b = $('lang');
  b.lang = currentLang() === 'en' ? 'zh-CN' : 'en';
}

/** The sticky header's height for scroll-padding (care.css): it changes with wrapping. */
function trackHeader() {
  const header = document.querySelector('.top');
  const set = () => document.documentElement.style.setProperty('--header-h', `${Math.ceil(header.getBoundingClientRect().height)}px`);
  set();
  if ('ResizeObserver' in window) new ResizeObserver(set).observe(header);
}

hooks.render = renderAll;
hooks.signInAgain = () => void boot();
setLang(initialLang());
trackHeader();
syncLangButton();
wire();
void boot();
