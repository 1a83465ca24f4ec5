import { createHash } from 'node:crypto';

// The wire vocabulary (alert types, levels, states, device event names) is the shared
// contract in protos; the rest of this file is the edge's own rule state.
import type { AlertEventRef, AlertLevel, AlertReport, AlertType } from '@yulan/protos';
export { AlertLevel, AlertState, AlertType, CareEvent, MAX_ALERT_EVENTS } from '@yulan/protos';

export type { AlertEventRef } from '@yulan/protos';

/** One revision of an alert: the wire `AlertReport` minus `edgeNotifications` (the uplink
 * adds those from the delivery log), with the fields the edge always sets made required.
 * JSON-safe: persisted as is. `events` holds the last MAX_ALERT_EVENTS, oldest first. */
export type AlertRecord = Omit<AlertReport, 'edgeNotifications' | 'confirmed' | 'message' | 'events'> & {
  confirmed: boolean;
  message: string;
  events: AlertEventRef[];
};


/** What the rules consume: a decoded, deduplicated event or telemetry message. */
export type RuleInput =
  | { kind: 'event'; deviceId: string; site: string; seq: number; tsMs: number; eventType: string; attributes: Record<string, string> }
  | { kind: 'telemetry'; deviceId: string; site: string; seq: number; tsMs: number; fields: Record<string, number> };

export interface QuietHours {
  /** 'HH:MM' local. */
  from: string;
  to: string;
}

export interface RoutineSettings {
  /** 'HH:MM' local; null → no routine check. */
  wakeBy: string | null;
  quietHours: QuietHours | null;
  inactivityHours: number;
}

/** Per-device rule settings (cloud care-rules, or the defaults). */
export interface DeviceCareSettings {
  heartbeatSec: number;
  utcOffsetMin: number;
  routine: RoutineSettings;
}

export const DEFAULT_CARE_SETTINGS: DeviceCareSettings = {
  heartbeatSec: 60,
  utcOffsetMin: 480,
  routine: { wakeBy: null, quietHours: null, inactivityHours: 24 },
};

/** The latest alert of one type for a device, open or recently closed. Closed slots are
 * kept a while so that late or replayed events merge into the alert they belong to
 * instead of raising a new one. */
export interface AlertSlot {
  alert: AlertRecord;
  /** Closed for merging (cancelled, cleared, or the merge window ran out). */
  closed: boolean;
  /** fall_id attributes seen on this alert. */
  fallIds: string[];
  /** Device time of the cancel, when cancelled. */
  cancelledAtMs?: number;
  /** The cancel's seq: breaks a tie in device time (clocks with whole seconds, or a
   * cancel and a long lie sent in the same millisecond). Absent in older saved state. */
  cancelledSeq?: number;
  /** Edge clock of the last change: the 30-min merge window runs on the edge clock, so a
   * device whose clock lags cannot make every event look expired. */
  touchedAtMs: number;
}

/** Per-device rule state; JSON-safe, persisted in alerts.db after every change. */
export interface DeviceRuleState {
  deviceId: string;
  site: string;
  /** Edge clock when a message from the device was last processed (silence is about the link). */
  firstHeardMs: number;
  lastHeardMs: number;
  /** Device time of the last motion (clamped to the edge clock). */
  lastMotionMs: number | null;
  /** The device reports presence/motion, so inactivity rules apply. */
  motionCapable: boolean;
  /** Last telemetry flags, for edge detection (flags are level-triggered on the wire). */
  flags: { fall: boolean; longLie: boolean; sos: boolean };
  slots: Partial<Record<AlertType, AlertSlot>>;
  /** fall.cancelled seen before its fall (reordering): fall_id → device time. */
  earlyCancels: Record<string, number>;
  /** Local day number (days since epoch, local) routine_missed was last evaluated as raised. */
  routineDay: number | null;
  /** Recently applied seqs: a message applied to alerts.db whose outbox commit then failed
   * comes back from the broker; it must not count twice. */
  recentSeqs: number[];
}

export interface RuleOptions {
  /** Edge clock at which watching started (process start): silence and wellness are never
   * measured across the edge's own downtime, or every restart would flood alarms. */
  watchSinceMs: number;
  /** Wellness rules wait this long after watchSinceMs for the broker's backlog to arrive. */
  warmupMs: number;
}

export interface RuleResult {
  state: DeviceRuleState;
  /** New revisions, in order; an alert appears at most once (its latest revision). */
  alerts: AlertRecord[];
  /** Alerts that reached a level for the first time (new, or upgraded): for metrics. */
  raised: { type: AlertType; level: AlertLevel }[];
}

/** `al_` + base64url(sha256(`deviceId|type|firstEventSeq`))[0..22]: a replay can never
 * create a second alert. Wellness alerts have no seq; they use a synthetic one. */
export function alertId(deviceId: string, type: AlertType, firstEventSeq: number | string): string {
  const h = createHash('sha256').update(`${deviceId}|${type}|${firstEventSeq}`).digest('base64url');
  return `al_${h.slice(0, 22)}`;
}
