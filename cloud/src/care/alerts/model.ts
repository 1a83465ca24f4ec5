/** Vocabulary of the cloud alert lifecycle (docs/care.md §2–§4). */

export const AlertLevel = { Urgent: 'urgent', Unconfirmed: 'unconfirmed', Wellness: 'wellness', Info: 'info' } as const;
export type AlertLevel = (typeof AlertLevel)[keyof typeof AlertLevel];

export const AlertType = {
  Sos: 'sos',
  Fall: 'fall',
  DeviceSilent: 'device_silent',
  Inactivity: 'inactivity',
  RoutineMissed: 'routine_missed',
  BatteryLow: 'battery_low',
} as const;
export type AlertType = (typeof AlertType)[keyof typeof AlertType];

export const EdgeState = { Open: 'open', Cancelled: 'cancelled', Cleared: 'cleared' } as const;
export type EdgeState = (typeof EdgeState)[keyof typeof EdgeState];

export const AlertStatus = {
  Raised: 'raised',
  Notifying: 'notifying',
  Acknowledged: 'acknowledged',
  Resolved: 'resolved',
  Cancelled: 'cancelled',
} as const;
export type AlertStatus = (typeof AlertStatus)[keyof typeof AlertStatus];

/** Outcomes a person chooses when resolving. */
export const PersonOutcome = {
  FalseAlarm: 'false_alarm',
  HelpedUp: 'helped_up',
  Hospital: 'hospital',
  EmergencyServices: 'emergency_services',
  NoActionNeeded: 'no_action_needed',
  Other: 'other',
} as const;
export type PersonOutcome = (typeof PersonOutcome)[keyof typeof PersonOutcome];
/** Outcomes only the system sets. */
export const SystemOutcome = { CancelledByResident: 'cancelled_by_resident', ConditionCleared: 'condition_cleared' } as const;
export type Outcome = PersonOutcome | (typeof SystemOutcome)[keyof typeof SystemOutcome];

export const NotificationKind = {
  Page: 'page',
  Reminder: 'reminder',
  Claimed: 'claimed',
  Cancelled: 'cancelled',
  Resolved: 'resolved',
} as const;
export type NotificationKind = (typeof NotificationKind)[keyof typeof NotificationKind];

export const NotificationStatus = {
  Pending: 'pending',
  /** handed to a channel; a crash here re-sends once with the same delivery id */
  Sent: 'sent',
  Delivered: 'delivered',
  /** every channel failed */
  Failed: 'failed',
  /** the current channel failed; the next one is up */
  Fallback: 'fallback',
} as const;
export type NotificationStatus = (typeof NotificationStatus)[keyof typeof NotificationStatus];

export interface EdgeNotification {
  channel: string;
  target: string;
  atMs: number;
  ok: boolean;
}

/** What the edge POSTs (docs/care.md §2, "Edge → cloud"). */
export interface AlertReport {
  id: string;
  revision: number;
  deviceId: string;
  site: string;
  type: AlertType;
  level: AlertLevel;
  state: EdgeState;
  skipCancelWindow: boolean;
  confirmed?: boolean;
  openedAtMs: number;
  updatedAtMs: number;
  firstEventAtMs: number;
  lastEventAtMs: number;
  eventCount: number;
  events: { type: string; atMs: number; seq: number }[];
  message?: string;
  edgeNotifications?: EdgeNotification[];
}
