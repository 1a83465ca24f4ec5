/**
 * The elderly-safety wire vocabulary shared by devices, the edge and the cloud
 * (docs/care.md): the event names a fall sensor publishes, and the alert report the edge
 * POSTs to the cloud. One definition, so the three sides cannot drift apart.
 */

/** Device event types of a fall sensor (docs/care.md §1). */
export const CareEvent = {
  FallDetected: 'fall.detected',
  LongLie: 'fall.long_lie',
  FallCancelled: 'fall.cancelled',
  FallCleared: 'fall.cleared',
  Sos: 'sos.pressed',
  BatteryLow: 'battery.low',
} as const;
export type CareEvent = (typeof CareEvent)[keyof typeof CareEvent];

/** Who noticed a fall: the room radar, or the wearable's free-fall + impact. */
export const FallSource = { Radar: 'radar', Wearable: 'wearable' } as const;
export type FallSource = (typeof FallSource)[keyof typeof FallSource];

export const AlertType = {
  Sos: 'sos',
  Fall: 'fall',
  DeviceSilent: 'device_silent',
  Inactivity: 'inactivity',
  RoutineMissed: 'routine_missed',
  BatteryLow: 'battery_low',
} as const;
export type AlertType = (typeof AlertType)[keyof typeof AlertType];

export const AlertLevel = { Urgent: 'urgent', Unconfirmed: 'unconfirmed', Wellness: 'wellness', Info: 'info' } as const;
export type AlertLevel = (typeof AlertLevel)[keyof typeof AlertLevel];

/** The edge's view of an alert: `open`, `cancelled` (by the resident) or `cleared` (the condition ended). */
export const AlertState = { Open: 'open', Cancelled: 'cancelled', Cleared: 'cleared' } as const;
export type AlertState = (typeof AlertState)[keyof typeof AlertState];

/** The last events an alert report carries, oldest first. */
export const MAX_ALERT_EVENTS = 20;

/** A page the edge sent on its own while the cloud was unreachable. */
export interface EdgeNotification {
  channel: string;
  target: string;
  atMs: number;
  ok: boolean;
  attempt?: number;
  error?: string;
}

/** One device event an alert merged. `fallId` and `source` (fall events) let the cloud tell
 * a new fall from a repeat of the same one, and a radar fall from a wearable's. */
export interface AlertEventRef {
  type: string;
  atMs: number;
  seq: number;
  fallId?: string;
  source?: string;
}

/** The body of `POST /api/v1/internal/alerts` (docs/care.md §2, "Edge → cloud"). */
export interface AlertReport {
  id: string;
  revision: number;
  deviceId: string;
  site: string;
  type: AlertType;
  level: AlertLevel;
  state: AlertState;
  skipCancelWindow: boolean;
  confirmed?: boolean;
  openedAtMs: number;
  updatedAtMs: number;
  firstEventAtMs: number;
  lastEventAtMs: number;
  eventCount: number;
  events: AlertEventRef[];
  message?: string;
  edgeNotifications?: EdgeNotification[];
}
