import type { Recipient } from '../contracts.js';
import type { LadderPosition } from './ladder.js';
import type { AlertLevel, AlertReport, AlertStatus, AlertType, EdgeState, NotificationKind, NotificationStatus } from './model.js';
import { newEvents } from './events.js';
import type { AlertRecord, NotificationRecord } from './store.js';

/**
 * Rows of both alert stores to records. SQLite hands JSON columns back as text and flags
 * as 0/1; PostgreSQL as parsed jsonb and booleans — both are accepted here.
 */
export type Row = Record<string, unknown>;

const json = <T>(v: unknown): T => (typeof v === 'string' ? JSON.parse(v) : v) as T;
const flag = (v: unknown): boolean => v === 1 || v === true;

export function toAlert(r: Row): AlertRecord {
  const report = json<AlertReport>(r.report);
  return {
    id: r.id as string, edgeAlertId: (r.edge_alert_id as string | null) ?? (r.id as string),
    previousAlertId: r.previous_alert_id as string | null,
    seen: r.seen === null || r.seen === undefined ? seenOf(report) : json<AlertRecord['seen']>(r.seen),
    revision: r.revision as number, deviceId: r.device_id as string, site: r.site as string,
    residentId: r.resident_id as string | null, residentName: r.resident_name as string | null, type: r.type as AlertType, level: r.level as AlertLevel,
    skipCancelWindow: flag(r.skip_cancel_window), edgeState: r.edge_state as EdgeState, status: r.status as AlertStatus,
    outcome: r.outcome as string | null, claimedBy: r.claimed_by as string | null, claimedAt: r.claimed_at as number | null,
    resolvedBy: r.resolved_by as string | null, resolvedAt: r.resolved_at as number | null, note: r.note as string | null,
    firstEventAtMs: r.first_event_at_ms as number, openedAt: r.opened_at as number, updatedAt: r.updated_at as number,
    ladder: json<LadderPosition>(r.ladder), nextDueAtMs: r.next_due_at_ms as number | null,
    report,
  };
}

/** Alerts stored before `seen` existed: everything their last report carried was seen. */
function seenOf(report: AlertReport): AlertRecord['seen'] {
  const fresh = newEvents(report, [], []);
  return { events: fresh.seen, fallIds: fresh.fallIds };
}

export function toNotification(r: Row): NotificationRecord {
  return {
    id: r.id as string, intentKey: r.intent_key as string, alertId: r.alert_id as string, userId: r.user_id as string,
    step: r.step as number, kind: r.kind as NotificationKind,
    recipient: r.recipient === null || r.recipient === undefined ? null : json<Recipient>(r.recipient),
    channelIndex: r.channel_index as number, channelType: r.channel_type as string | null,
    status: r.status as NotificationStatus, attempts: r.attempts as number, createdAt: r.created_at as number,
    sentAt: r.sent_at as number | null, deliveredAt: r.delivered_at as number | null, readAt: r.read_at as number | null,
    error: r.error as string | null,
  };
}

export const toTimeline = (r: Row) => ({
  atMs: r.at_ms as number, kind: r.kind as string, actor: r.actor as string | null,
  detail: r.detail === null || r.detail === undefined ? null : json<unknown>(r.detail),
});

export const toAttempt = (r: Row) => ({
  atMs: r.at_ms as number, channelIndex: r.channel_index as number, channelType: r.channel_type as string, ok: flag(r.ok), error: r.error as string | null,
});

/** The notification columns a patch may set (fixed names: never taken from input). */
export const NOTIFICATION_COLUMNS: Record<string, string> = {
  channelIndex: 'channel_index', channelType: 'channel_type', status: 'status', attempts: 'attempts',
  sentAt: 'sent_at', deliveredAt: 'delivered_at', readAt: 'read_at', error: 'error',
};
