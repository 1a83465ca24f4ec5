import { AlertDraft } from './alert-draft.js';
import {
  AlertLevel, AlertState, AlertType, CareEvent,
  type AlertEventRef, type AlertSlot, type DeviceCareSettings, type DeviceRuleState, type RuleInput, type RuleOptions,
  type RuleResult,
} from './alert-types.js';
import { HOUR_MS, MINUTE_MS, activeMsBetween, atLocal, localDay, parseHhMm, routineWindowStart } from './local-time.js';

/**
 * The edge alert rules of docs/care.md §2. Pure: the clock is an argument, the state is a
 * JSON-safe value the caller persists. One slot per (device, type) holds the latest alert,
 * which is what makes "one open alert per type" true by construction.
 */

/** A fall or SOS alert stops merging this long after its last change. */
export const MERGE_WINDOW_MS = 30 * MINUTE_MS;
/** A long lie this soon after a fall belongs to it even without a matching fall_id. */
export const LONG_LIE_LINK_MS = 10 * MINUTE_MS;
/** Closed slots are kept this long for late/replayed events, then forgotten. */
const SLOT_RETAIN_MS = 2 * MERGE_WINDOW_MS;
const RECENT_SEQS = 64;
const MAX_EARLY_CANCELS = 16;
/** protos Motion.MOTION_MOVING; flattenTelemetry reports the enum number. */
const MOTION_MOVING = 3;
const MOVEMENT_THRESHOLD = 10;
/** battery_low is cleared once the battery reads at least this (swapped or charged). */
export const BATTERY_RECOVERED_PCT = 50;

export function newDeviceState(deviceId: string, site: string, now: number): DeviceRuleState {
  return {
    deviceId, site, firstHeardMs: now, lastHeardMs: now, lastMotionMs: null, motionCapable: false,
    flags: { fall: false, longLie: false, sos: false }, slots: {}, earlyCancels: {}, routineDay: null, recentSeqs: [],
  };
}

/** Applies one deduplicated event or telemetry message. */
export function applyInput(prev: DeviceRuleState | undefined, input: RuleInput, now: number): RuleResult {
  if (prev?.recentSeqs.includes(input.seq)) return { state: prev, alerts: [], raised: [] };
  const s = prev ? structuredClone(prev) : newDeviceState(input.deviceId, input.site, now);
  s.recentSeqs = [...s.recentSeqs, input.seq].slice(-RECENT_SEQS);
  s.site = input.site;
  s.lastHeardMs = Math.max(s.lastHeardMs, now);
  const d = new AlertDraft(s, now);
  expire(d);
  const silent = s.slots[AlertType.DeviceSilent];
  if (silent && !silent.closed) {
    d.close(silent, AlertState.Cleared, 'device heard again');
    delete s.slots[AlertType.DeviceSilent];
  }
  // Device time, but never ahead of the edge clock (decode allows a few minutes of skew).
  const ts = Math.min(input.tsMs, now);
  if (input.kind === 'event') onEvent(d, input.eventType, input.attributes, eventRef(input.eventType, input.attributes, ts, input.seq));
  else onTelemetry(d, input.fields, ts, input.seq);
  return d.result();
}

/** The event as an alert carries it; a fall's id and source go along so the cloud can tell
 * a new fall from a repeat of the one it already handled (docs/care.md §3). */
function eventRef(type: string, attrs: Record<string, string>, atMs: number, seq: number): AlertEventRef {
  const ref: AlertEventRef = { type, atMs, seq };
  if (attrs.fall_id) ref.fallId = attrs.fall_id.slice(0, 64);
  if (attrs.source) ref.source = attrs.source.slice(0, 32);
  return ref;
}

/** Periodic evaluation: merge windows, silence, inactivity, routine. */
export function applyTick(prev: DeviceRuleState, settings: DeviceCareSettings, opts: RuleOptions, now: number): RuleResult {
  const s = structuredClone(prev);
  const d = new AlertDraft(s, now);
  expire(d);
  const hbMs = settings.heartbeatSec * 1000;
  const quietSince = Math.max(s.lastHeardMs, opts.watchSinceMs);
  if (now - quietSince > 3 * hbMs && !isOpen(s.slots[AlertType.DeviceSilent])) {
    d.open(AlertType.DeviceSilent, `@${s.lastHeardMs}`, null, {
      level: AlertLevel.Wellness, atMs: s.lastHeardMs,
      message: `no message for ${Math.round((now - s.lastHeardMs) / 1000)} s (expected every ${settings.heartbeatSec} s)`,
    });
  }
  const warm = now >= opts.watchSinceMs + opts.warmupMs;
  // Without messages nothing is known about motion: device_silent already says so.
  if (warm && s.motionCapable && !isOpen(s.slots[AlertType.DeviceSilent])) wellness(d, settings);
  return d.result();
}

function isOpen(slot: AlertSlot | undefined): slot is AlertSlot {
  return slot !== undefined && !slot.closed;
}

function expire(d: AlertDraft): void {
  for (const [type, slot] of Object.entries(d.s.slots) as [AlertType, AlertSlot][]) {
    const idle = d.now - slot.touchedAtMs;
    if (!slot.closed && (type === AlertType.Fall || type === AlertType.Sos) && idle > MERGE_WINDOW_MS) slot.closed = true;
    if (slot.closed && idle > SLOT_RETAIN_MS) delete d.s.slots[type];
  }
  for (const [id, at] of Object.entries(d.s.earlyCancels)) if (d.now - at > SLOT_RETAIN_MS) delete d.s.earlyCancels[id];
}

function onEvent(d: AlertDraft, type: string, attrs: Record<string, string>, ev: AlertEventRef): void {
  const fallId = attrs.fall_id || undefined;
  switch (type) {
    case CareEvent.FallDetected:
      return fallDetected(d, ev, fallId, attrs.source === 'wearable');
    case CareEvent.LongLie:
      return longLie(d, ev, fallId, Number(attrs.lying_ms));
    case CareEvent.FallCancelled:
      return fallCancelled(d, ev, fallId);
    case CareEvent.FallCleared: {
      const slot = d.s.slots[AlertType.Fall];
      if (slot && ownsFall(slot, fallId)) {
        d.merge(slot, ev).message = 'person got up before the long-lie timer (unconfirmed fall, for review)';
      }
      return;
    }
    case CareEvent.Sos:
      return sos(d, ev);
    case CareEvent.BatteryLow: {
      const slot = d.s.slots[AlertType.BatteryLow];
      const pct = attrs.battery_pct ? ` (${attrs.battery_pct} %)` : '';
      if (isOpen(slot)) d.merge(slot, ev).message = `battery low${pct}`;
      else d.open(AlertType.BatteryLow, ev.seq, ev, { level: AlertLevel.Info, message: `battery low${pct}` });
      return;
    }
    default:
  }
}

/** Does this fall slot's alert own `fallId` (or can it, having none)? */
function ownsFall(slot: AlertSlot, fallId: string | undefined): boolean {
  if (!fallId) return !slot.closed;
  return slot.fallIds.includes(fallId) || (!slot.closed && slot.fallIds.length === 0);
}

function addFallId(slot: AlertSlot, fallId: string | undefined): void {
  if (fallId && !slot.fallIds.includes(fallId)) slot.fallIds = [...slot.fallIds, fallId].slice(-20);
}

/** Opens a fall alert, unless its cancel already arrived (reordering): then it is recorded
 * as cancelled, and nobody is paged for it. */
function openFall(d: AlertDraft, ev: AlertEventRef, fallId: string | undefined, p: {
  level: AlertLevel; skipCancelWindow: boolean; confirmed: boolean; message: string;
}): void {
  const cancelAt = fallId ? d.s.earlyCancels[fallId] : undefined;
  if (fallId && cancelAt !== undefined && ev.atMs <= cancelAt) {
    const slot = d.open(AlertType.Fall, ev.seq, ev, { ...p, state: AlertState.Cancelled, message: 'cancelled by the resident' });
    slot.cancelledAtMs = cancelAt;
    addFallId(slot, fallId);
    delete d.s.earlyCancels[fallId];
    return;
  }
  addFallId(d.open(AlertType.Fall, ev.seq, ev, p), fallId);
}

function fallDetected(d: AlertDraft, ev: AlertEventRef, fallId: string | undefined, wearable: boolean): void {
  const p = wearable
    ? { level: AlertLevel.Urgent, skipCancelWindow: false, confirmed: false, message: 'fall detected (wearable: free-fall and impact)' }
    : { level: AlertLevel.Unconfirmed, skipCancelWindow: false, confirmed: false, message: 'fall detected (radar); awaiting long-lie confirmation' };
  const slot = d.s.slots[AlertType.Fall];
  // A late copy of a cancelled fall's events stays with the cancelled alert.
  const lateForCancelled = slot?.alert.state === AlertState.Cancelled && !fallId && beforeCancel(slot, ev);
  if (slot && (ownsFall(slot, fallId) || lateForCancelled || (!slot.closed))) {
    d.merge(slot, ev);
    addFallId(slot, fallId);
    d.upgrade(slot, { level: p.level, message: slot.alert.level === AlertLevel.Unconfirmed ? p.message : undefined });
    return;
  }
  openFall(d, ev, fallId, p);
}

function longLie(d: AlertDraft, ev: AlertEventRef, fallId: string | undefined, lyingMs: number): void {
  const message = Number.isFinite(lyingMs) && lyingMs > 0
    ? `fall confirmed: still on the floor after ${Math.round(lyingMs / 1000)} s`
    : 'fall confirmed: still on the floor';
  const p = { level: AlertLevel.Urgent, skipCancelWindow: true, confirmed: true, message };
  const slot = d.s.slots[AlertType.Fall];
  if (slot) {
    const cancelled = slot.alert.state === AlertState.Cancelled;
    const sameFall = fallId !== undefined && slot.fallIds.includes(fallId);
    const linked = sameFall || ev.atMs - slot.alert.lastEventAtMs <= LONG_LIE_LINK_MS;
    if (cancelled && (sameFall || !fallId) && beforeCancel(slot, ev)) {
      // Reordered: the resident cancelled after this long lie; the cancel stands.
      d.merge(slot, ev);
      return;
    }
    if (!cancelled && (!slot.closed || linked)) {
      // The open fall (or an idle one this lie belongs to) is confirmed.
      slot.closed = false;
      d.merge(slot, ev);
      addFallId(slot, fallId);
      d.upgrade(slot, p);
      return;
    }
  }
  // No fall seen (missed stage 1), or the person is on the floor after "I'm fine": a long
  // lie is itself a confirmed fall, as a new alert (a cancelled one never turns urgent).
  openFall(d, ev, fallId, p);
}

/** Whether an event on a cancelled fall was sent before the cancel: by device time, and on
 * a tie by seq. A long lie sent after "I'm fine" in the same second (devices whose clocks
 * count whole seconds) was taken for a reordered copy from before it and swallowed by the
 * cancelled alert: nobody paged (found by bench/test/care-invariant.property.test.ts). */
function beforeCancel(slot: AlertSlot, ev: { atMs: number; seq: number }): boolean {
  const at = slot.cancelledAtMs ?? 0;
  if (ev.atMs !== at) return ev.atMs < at;
  return slot.cancelledSeq === undefined || ev.seq < slot.cancelledSeq;
}

function fallCancelled(d: AlertDraft, ev: AlertEventRef, fallId: string | undefined): void {
  const slot = d.s.slots[AlertType.Fall];
  if (slot && slot.alert.state !== AlertState.Cleared && ownsFall(slot, fallId)) {
    d.merge(slot, ev);
    if (slot.alert.state === AlertState.Open) {
      d.close(slot, AlertState.Cancelled, 'cancelled by the resident');
      slot.cancelledAtMs = ev.atMs;
      slot.cancelledSeq = ev.seq;
    }
    return;
  }
  if (fallId) {
    // The cancel overtook its fall: remember it so the fall is recorded as cancelled.
    const early = Object.entries({ ...d.s.earlyCancels, [fallId]: ev.atMs }).slice(-MAX_EARLY_CANCELS);
    d.s.earlyCancels = Object.fromEntries(early);
  }
}

function sos(d: AlertDraft, ev: AlertEventRef): void {
  const slot = d.s.slots[AlertType.Sos];
  if (isOpen(slot)) d.merge(slot, ev);
  else d.open(AlertType.Sos, ev.seq, ev, { level: AlertLevel.Urgent, skipCancelWindow: true, message: 'SOS button pressed' });
}

function onTelemetry(d: AlertDraft, f: Record<string, number>, ts: number, seq: number): void {
  const s = d.s;
  if (f.presence !== undefined || f.motion !== undefined) s.motionCapable = true;
  const moving = f.presence !== 0 && (f.motion === MOTION_MOVING || (f.movement_level ?? 0) >= MOVEMENT_THRESHOLD);
  if (moving && s.motionCapable) {
    s.lastMotionMs = Math.max(s.lastMotionMs ?? ts, ts);
    for (const type of [AlertType.Inactivity, AlertType.RoutineMissed]) {
      const slot = s.slots[type];
      if (isOpen(slot)) d.close(slot, AlertState.Cleared, 'motion detected');
      delete s.slots[type];
    }
  }
  // Flags are level-triggered on the wire: act on rising edges only, and only where the
  // matching event has not already done the work (no double raise when both arrive).
  const flags = { fall: f.fall === 1, longLie: f.long_lie === 1, sos: f.sos === 1 };
  const fall = s.slots[AlertType.Fall];
  const afterClose = (slot: AlertSlot | undefined): boolean =>
    !slot || (slot.closed && (slot.alert.state !== AlertState.Cancelled || !beforeCancel(slot, { atMs: ts, seq })));
  if (flags.longLie && !s.flags.longLie) {
    if (isOpen(fall) && !fall.alert.confirmed) longLie(d, { type: 'telemetry.long_lie', atMs: ts, seq }, undefined, NaN);
    else if (afterClose(fall)) openFall(d, { type: 'telemetry.long_lie', atMs: ts, seq }, undefined,
      { level: AlertLevel.Urgent, skipCancelWindow: true, confirmed: true, message: 'fall confirmed: still on the floor' });
  } else if (flags.fall && !s.flags.fall && afterClose(fall)) {
    fallDetected(d, { type: 'telemetry.fall', atMs: ts, seq }, undefined, false);
  }
  if (flags.sos && !s.flags.sos && !isOpen(s.slots[AlertType.Sos])) sos(d, { type: 'telemetry.sos', atMs: ts, seq });
  s.flags = flags;
  const battery = s.slots[AlertType.BatteryLow];
  if (isOpen(battery) && (f.battery_pct ?? 0) >= BATTERY_RECOVERED_PCT) {
    d.close(battery, AlertState.Cleared, `battery recovered (${f.battery_pct} %)`);
    delete s.slots[AlertType.BatteryLow];
  }
}

function wellness(d: AlertDraft, settings: DeviceCareSettings): void {
  const s = d.s;
  const { routine, utcOffsetMin: off } = settings;
  const since = s.lastMotionMs ?? s.firstHeardMs;
  const limitMs = routine.inactivityHours * HOUR_MS;
  if (!isOpen(s.slots[AlertType.Inactivity]) && activeMsBetween(since, d.now, routine.quietHours, off) >= limitMs) {
    d.open(AlertType.Inactivity, `@${since}`, null, {
      level: AlertLevel.Wellness, atMs: since,
      message: `no motion for ${routine.inactivityHours} h${routine.quietHours ? ' (quiet hours not counted)' : ''}`,
    });
  }
  const wakeBy = routine.wakeBy ? parseHhMm(routine.wakeBy) : undefined;
  if (wakeBy === undefined) return;
  const day = localDay(d.now, off);
  if (s.routineDay === day || d.now < atLocal(day, wakeBy, off)) return;
  s.routineDay = day;
  const start = routineWindowStart(day, wakeBy, routine.quietHours, off);
  // A device first heard after the window began cannot tell whether the resident got up.
  if (s.firstHeardMs > start || (s.lastMotionMs ?? -Infinity) >= start) return;
  if (!isOpen(s.slots[AlertType.RoutineMissed])) {
    d.open(AlertType.RoutineMissed, `@${day}`, null, {
      level: AlertLevel.Wellness, atMs: start, message: `no motion by ${routine.wakeBy} local time`,
    });
  }
}
