// DOM builders of the care page. Everything user-supplied (names, notes, messages) goes
// in through textContent, never markup. Urgency is always said in words and an icon,
// colour only reinforces it.

import { ago, clock, t } from './i18n.js';

export const OUTCOMES = ['helped_up', 'false_alarm', 'hospital', 'emergency_services', 'no_action_needed', 'other'];
const OPEN = new Set(['raised', 'notifying', 'acknowledged']);
const LEVEL_ICON = { urgent: '⚠', unconfirmed: '?', wellness: 'ℹ', info: 'ℹ' };
const LEVEL_RANK = { urgent: 0, unconfirmed: 1, wellness: 2, info: 3 };

/** el('div', { class: 'x' }, child, 'text'); null/false attributes and children are skipped. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined && v !== false) node.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

export const isOpen = (a) => OPEN.has(a.status);

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
 * timeline (entries|null), outcome, note }; `names` maps user ids to names for the timeline.
 */
export function alertCard(a, me, ui, names) {
  const id = a.id;
  const mine = a.status === 'acknowledged' && a.claimedBy && me && a.claimedBy.userId === me.id;
  const urgent = a.level === 'urgent' && isOpen(a);
  const actions = el('div', { class: 'actions' });
  if (a.status === 'raised' || a.status === 'notifying') {
    actions.append(el('button', { type: 'button', class: 'btn primary big', 'data-action': 'ack', 'data-id': id, 'data-key': `ack-${id}`, disabled: ui.busy },
      ui.busy ? t('handling') : t('handle')));
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
  a.message ? el('p', { class: 'message' }, a.message) : null,
  actions,
  ui.notice ? el('p', { class: 'notice', role: 'status' }, ui.notice) : null,
  el('p', { class: 'error', role: 'alert', 'data-role': 'error' }, ui.error ?? ''),
  mine ? resolveForm(a, ui) : null,
  el('section', { class: 'timeline', id: tlId, hidden: !ui.timelineOpen, 'aria-label': t('timelineTitle') },
    ui.timelineOpen ? timelineList(ui.timeline, me, names) : null));
  return card;
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
  const items = entries.map((e) => {
    const d = e.detail ?? {};
    const vars = {
      actor: actorName(e, me, names),
      channel: d.channel ? t(`ch_${d.channel}`) : '',
      outcome: d.outcome ? t(`outcome_${d.outcome}`) : '',
      to: d.to ? t(d.to) : '',
    };
    const key = e.kind === 'delivered' && d.kind === 'reminder' ? 'tl_reminder' : `tl_${e.kind}`;
    const text = t(key, vars);
    return el('li', { 'data-kind': e.kind },
      el('time', { datetime: new Date(e.atMs).toISOString() }, clock(e.atMs)), ' ',
      el('span', {}, text === key ? `${e.kind} · ${vars.actor}` : text),
      d.note ? el('q', {}, d.note) : null);
  });
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
