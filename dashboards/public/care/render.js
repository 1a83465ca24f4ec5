// DOM builders of the care page. Everything user-supplied (names, notes, messages) goes
// in through textContent, never markup. Urgency is always said in words and an icon,
// colour only reinforces it.

import { ago, clock, hms, STRINGS, t } from './i18n.js';

export const OUTCOMES = ['helped_up', 'false_alarm', 'hospital', 'emergency_services', 'no_action_needed', 'other'];
const CLOSED = new Set(['resolved', 'cancelled']);
const LEVEL_ICON = { urgent: '⚠', unconfirmed: '?', wellness: 'ℹ', info: 'ℹ' };
const LEVEL_RANK = { urgent: 0, unconfirmed: 1, wellness: 2, info: 3 };

/** el('div', { class: 'x' }, child, 'text'); null/false attributes and children are skipped. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined && v !== false) node.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

/** Open unless known to be closed: a status this page does not know (yet) must never
 * make an alert look settled, nor let "No open alerts" show beside it. */
export const isOpen = (a) => !CLOSED.has(a.status);

/** Consecutive items with the same key as one run: { item (first), last, count }. */
export function collapseRuns(items, keyOf) {
  const runs = [];
  for (const item of items) {
    const key = keyOf(item);
    const prev = runs[runs.length - 1];
    if (prev && prev.key === key) {
      prev.count += 1;
      prev.last = item;
    } else runs.push({ key, item, last: item, count: 1 });
  }
  return runs;
}

/**
 * A tel: URI, or null. Only a number written with digits, spaces, dashes, dots or
 * brackets (and one leading +) gets a link, and the link carries the digits alone:
 * nothing else from the stored text can reach the URI (no parameters, no other scheme).
 */
export function telHref(phone) {
  if (typeof phone !== 'string') return null;
  const s = phone.trim();
  if (!/^\+?[0-9(][0-9 ().-]{1,30}$/.test(s)) return null;
  const digits = s.replace(/[^0-9]/g, '');
  if (digits.length < 3 || digits.length > 20) return null;
  return `tel:${s.startsWith('+') ? '+' : ''}${digits}`;
}

export const roleLabel = (role) => t(`role_${role}`);

/** Open before closed, urgent first, newest first. */
export function sortAlerts(list) {
  return [...list].sort((a, b) => (isOpen(b) - isOpen(a))
    || ((LEVEL_RANK[a.level] ?? 9) - (LEVEL_RANK[b.level] ?? 9))
    || (b.firstEventAtMs - a.firstEventAtMs));
}

const typeLabel = (a) => t(`type_${a.type}`);
const who = (a) => a.residentName ?? t('device', { id: a.deviceId });
export const alertText = (a) => `${t(a.level) || a.level} · ${typeLabel(a)} · ${who(a)}`;

function statusText(a, me) {
  if (a.status === 'acknowledged') {
    const mine = a.claimedBy && me && a.claimedBy.userId === me.id;
    return t('status_acknowledged', { name: mine ? `${a.claimedBy.name} (${t('you')})` : a.claimedBy?.name ?? '?' });
  }
  if (a.status === 'resolved') return t('status_resolved', { outcome: a.outcome ? t(`outcome_${a.outcome}`) : '' });
  return t(`status_${a.status}`);
}

/** The elapsed-time line; its text is refreshed by `tickElapsed` without re-rendering. */
function elapsed(a) {
  return el('p', { class: 'elapsed' },
    el('time', { datetime: new Date(a.firstEventAtMs).toISOString(), 'data-since': a.firstEventAtMs, 'data-what': typeLabel(a) },
      t('since', { what: typeLabel(a), ago: ago(a.firstEventAtMs) })));
}

export function tickElapsed(root) {
  for (const node of root.querySelectorAll('time[data-since]')) {
    node.textContent = t('since', { what: node.dataset.what, ago: ago(Number(node.dataset.since)) });
  }
}

/**
 * One alert. `ui` is the page's per-alert state: { busy, error, notice, timelineOpen,
 * timeline (entries|null), outcome, note }; `names` maps user ids to names for the timeline;
 * `contacts` is the resident's contact state ({ state, data }) for an urgent open alert.
 */
export function alertCard(a, me, ui, names, contacts) {
  const id = a.id;
  const mine = a.status === 'acknowledged' && a.claimedBy && me && a.claimedBy.userId === me.id;
  const urgent = a.level === 'urgent' && isOpen(a);
  const actions = el('div', { class: 'actions' });
  if (a.status === 'raised' || a.status === 'notifying') {
    actions.append(el('button', { type: 'button', class: 'btn primary big', 'data-action': 'ack', 'data-id': id, 'data-key': `ack-${id}`, disabled: ui.busy },
      ui.busy ? t('handling') : t('handle')));
  }
  // A new event on the alert I handle: I confirm I saw it, or the ladder starts again.
  const mustConfirm = mine && me && a.awaitingConfirmation === me.id;
  if (mustConfirm) {
    actions.append(el('button', { type: 'button', class: 'btn primary big', 'data-action': 'ack', 'data-id': id, 'data-key': `confirm-${id}`, disabled: ui.busy },
      ui.busy ? t('handling') : t('confirmNewEvent')));
  }
  const tlId = `tl-${id}`;
  actions.append(el('button', {
    type: 'button', class: 'btn ghost', 'data-action': 'timeline', 'data-id': id, 'data-key': `tl-${id}`,
    'aria-expanded': ui.timelineOpen ? 'true' : 'false', 'aria-controls': tlId,
  }, ui.timelineOpen ? t('hideTimeline') : t('showTimeline')));

  const card = el('article', {
    class: `alert level-${a.level} status-${a.status}${urgent ? ' urgent' : ''}`, 'data-alert-id': id, 'data-level': a.level,
    'data-status': a.status, 'aria-labelledby': `h-${id}`,
  },
  el('header', {},
    el('p', { class: `level level-${a.level}` }, el('span', { class: 'icon', 'aria-hidden': 'true' }, LEVEL_ICON[a.level] ?? '•'), ' ',
      el('strong', {}, t(a.level) || a.level)),
    el('h3', { id: `h-${id}` }, `${typeLabel(a)} — ${who(a)}`),
    elapsed(a)),
  el('p', { class: 'status', 'data-role': 'status' }, statusText(a, me)),
  mustConfirm ? el('p', { class: 'notice urgent-note', role: 'alert', 'data-role': 'confirm-note' }, t('newEventWhileHandling')) : null,
  eventList(a),
  a.message && !saysTheEvents(a) ? el('p', { class: 'message' }, a.message) : null,
  actions,
  ui.notice ? el('p', { class: 'notice', role: 'status' }, ui.notice) : null,
  el('p', { class: 'error', role: 'alert', 'data-role': 'error' }, ui.error ?? ''),
  // After the claim button (claiming stops everyone else's pages), before resolving.
  urgent ? contactBlock(a, contacts) : null,
  mine ? resolveForm(a, ui) : null,
  el('section', { class: 'timeline', id: tlId, hidden: !ui.timelineOpen, 'aria-label': t('timelineTitle') },
    ui.timelineOpen ? timelineList(ui.timeline, me, names) : null));
  return card;
}

function eventLabel(type) {
  const key = `ev_${type}`;
  const label = t(key);
  return label === key ? type : label;
}

/** The edge's message is English and often just names the event ("SOS button
 * pressed"): shown only when it adds something to the (translated) event list. */
function saysTheEvents(a) {
  return Array.isArray(a.events) && a.events.some((e) => STRINGS.en[`ev_${e.type}`] === a.message);
}

/** What the device reported, oldest first; repeats in a row are one line with ×N. */
function eventList(a) {
  const events = Array.isArray(a.events) ? a.events : [];
  if (events.length === 0) return null;
  // The report carries the last 20 events; older ones are only counted.
  const earlier = Math.max(0, (a.eventCount ?? events.length) - events.length);
  return el('ul', { class: 'events', 'aria-label': t('eventsTitle') },
    earlier > 0 ? el('li', {}, t('earlierEvents', { n: earlier })) : null,
    collapseRuns(events, (e) => e.type).map((r) => el('li', { 'data-count': r.count },
      el('time', { datetime: new Date(r.item.atMs).toISOString() }, r.count > 1 ? `${hms(r.item.atMs)}–${hms(r.last.atMs)}` : hms(r.item.atMs)),
      ' ', r.count > 1 ? t('repeated', { what: eventLabel(r.item.type), n: r.count }) : eventLabel(r.item.type))));
}

/** One tap-to-call line: a link when the number is usable, plain text otherwise. */
function callLine(name, detail, phone, key) {
  const href = telHref(phone);
  if (!href) return el('li', { class: 'no-call' }, `${name} · ${detail} · ${phone ? phone : t('noPhone')}`);
  return el('li', {},
    el('a', { class: 'call', href, 'data-key': key },
      el('span', { class: 'call-name' }, el('span', { 'aria-hidden': 'true' }, '☎ '), t('callName', { name })),
      el('span', { class: 'call-detail' }, `${detail} · `, el('span', { class: 'call-number' }, phone))));
}

/** Address and phone numbers for the person acting on an urgent alert (only when the
 * server let this person read them; a refusal leaves the card without the block). */
function contactBlock(a, c) {
  if (!c || c.state === 'denied') return null;
  if (c.state === 'loading') return el('p', { class: 'muted', 'data-role': 'contacts-loading' }, t('loadingContacts'));
  if (c.state === 'error') return el('p', { class: 'error', role: 'alert' }, t('contactsFailed'));
  const d = c.data;
  return el('section', { class: 'contacts', 'aria-label': t('contactsTitle') },
    el('p', { class: 'address' }, el('strong', {}, t('address')), ' ', d.address ?? t('noAddress')),
    el('ul', { class: 'calls' },
      callLine(d.name, t('residentSelf'), d.phone, `call-${a.id}-resident`),
      d.contacts.map((p) => callLine(p.name, p.relation ? `${p.relation} · ${roleLabel(p.role)}` : roleLabel(p.role), p.phone, `call-${a.id}-${p.userId}`))));
}

function resolveForm(a, ui) {
  const sel = el('select', { id: `outcome-${a.id}`, name: 'outcome', 'data-key': `outcome-${a.id}`, 'data-id': a.id },
    OUTCOMES.map((o) => el('option', { value: o, selected: (ui.outcome ?? 'helped_up') === o }, t(`outcome_${o}`))));
  const note = el('textarea', { id: `note-${a.id}`, name: 'note', rows: 2, maxlength: 2000, 'data-key': `note-${a.id}`, 'data-id': a.id });
  note.value = ui.note ?? '';
  return el('form', { class: 'resolve', 'data-action': 'resolve', 'data-id': a.id },
    el('fieldset', {},
      el('legend', {}, t('resolveTitle')),
      el('label', { for: `outcome-${a.id}` }, t('outcome')), sel,
      el('label', { for: `note-${a.id}` }, t('note')), note,
      el('button', { type: 'submit', class: 'btn primary', 'data-key': `resolve-${a.id}`, disabled: ui.busy }, t('resolve'))));
}

function actorName(entry, me, names) {
  const id = entry.actor;
  if (entry.actorName) return entry.actorName;
  if (!id) return t('system');
  if (me && id === me.id) return `${me.name} (${t('you')})`;
  if (id === 'edge' || id === 'resident' || id === 'system') return t(id);
  return names.get(id) ?? id;
}

function timelineList(entries, me, names) {
  if (!entries) return el('p', { class: 'muted' }, t('loading'));
  const lines = entries.map((e) => {
    const d = e.detail ?? {};
    const actor = actorName(e, me, names);
    const vars = {
      actor: e.kind === 'paged' && d.stepKind ? `${actor} · ${roleLabel(d.stepKind)}` : actor,
      channel: d.channel ? t(`ch_${d.channel}`) : '',
      outcome: d.outcome ? t(`outcome_${d.outcome}`) : '',
      to: d.to ? t(d.to) : '',
    };
    const key = e.kind === 'delivered' && d.kind === 'reminder' ? 'tl_reminder' : `tl_${e.kind}`;
    const text = t(key, vars);
    return { e, text: text === key ? `${e.kind} · ${vars.actor}` : text, note: d.note ?? null };
  });
  // The same thing said again (reminders, repeated events) is one line with ×N.
  const items = collapseRuns(lines, (l) => `${l.text}\n${l.note ?? ''}`).map((r) => el('li', { 'data-kind': r.item.e.kind, 'data-count': r.count },
    el('time', { datetime: new Date(r.item.e.atMs).toISOString() }, clock(r.item.e.atMs)), ' ',
    el('span', {}, r.count > 1 ? t('repeated', { what: r.item.text, n: r.count }) : r.item.text),
    r.item.note ? el('q', {}, r.item.note) : null));
  return el('ol', {}, items);
}

/** A resident with a toggle for recent activity (loaded on demand: it is health data, audited). */
export function residentCard(r, openAlerts, ui) {
  const regionId = `act-${r.id}`;
  return el('li', { class: 'resident', 'data-resident-id': r.id },
    el('h3', {}, r.name),
    openAlerts > 0 ? el('p', { class: 'badge-open' }, el('span', { 'aria-hidden': 'true' }, '⚠ '), `${t('alertsTitle')}: ${openAlerts}`) : null,
    el('button', {
      type: 'button', class: 'btn ghost', 'data-action': 'activity', 'data-id': r.id, 'data-key': `act-${r.id}`,
      'aria-expanded': ui.open ? 'true' : 'false', 'aria-controls': regionId,
    }, ui.open ? t('hideActivity') : t('activity')),
    el('div', { id: regionId, class: 'activity', hidden: !ui.open }, ui.open ? activityView(ui) : null));
}

function activityView(ui) {
  if (ui.error) return el('p', { class: 'error', role: 'alert' }, ui.error);
  if (!ui.data) return el('p', { class: 'muted' }, t('loading'));
  const points = (ui.data.devices ?? []).flatMap((d) => (d.points ?? []).map((p) => ({ ...p, deviceId: d.deviceId })))
    .sort((a, b) => b.ts - a.ts);
  if (points.length === 0) return el('p', {}, t('noActivity'));
  const moved = points.find((p) => p.fields?.motion === 3 || (p.fields?.movement_level ?? 0) >= 10);
  return el('div', {},
    el('p', { class: 'last-move' }, moved ? t('lastMovement', { ago: ago(moved.ts) }) : t('noMovement')),
    el('ul', { class: 'points' }, points.slice(0, 8).map((p) => {
      const f = p.fields ?? {};
      const parts = [f.motion ? t(`motion_${f.motion}`) : t('motionUnknown')];
      if (typeof f.movement_level === 'number') parts.push(t('movement', { level: Math.round(f.movement_level) }));
      if (f.presence !== undefined) parts.push(f.presence ? t('atHome') : t('notHome'));
      return el('li', {}, el('time', { datetime: new Date(p.ts).toISOString() }, clock(p.ts)), ` ${parts.join(' · ')}`);
    })));
}
