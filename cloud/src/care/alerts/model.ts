/** Vocabulary of the cloud alert lifecycle (docs/care.md §2–§4). */

// The wire vocabulary the edge reports in lives in protos (one contract for both sides).
export { AlertLevel, AlertType, type AlertReport, type EdgeNotification } from '@yulan/protos';
export { AlertState as EdgeState } from '@yulan/protos';

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
  /** a new event on an alert already paged or claimed (another press, a new fall) */
  Update: 'update',
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

