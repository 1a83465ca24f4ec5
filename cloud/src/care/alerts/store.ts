import { randomBytes } from 'node:crypto';
import type { Recipient } from '../contracts.js';
import type { Intent, LadderPosition } from './ladder.js';
import type { AlertLevel, AlertReport, AlertStatus, AlertType, EdgeState, NotificationKind, NotificationStatus } from './model.js';

/**
 * The alert store (docs/care.md §3): alerts, their timelines, notification intents and
 * delivery attempts. Two implementations behind this one async interface, run through the
 * same contract suite (cloud/test/alert-store-contract.test.ts): alerts.sqlite (one cloud)
 * and the `alerts` schema in PostgreSQL (several clouds on one database).
 */
export interface AlertRecord {
  id: string;
  /** the edge's alert id: the first cloud alert has the same id, later ones follow it */
  edgeAlertId: string;
  /** the closed alert of the same edge alert this one follows (a new event after resolve) */
  previousAlertId: string | null;
  /** device events already taken into account (keys and fall ids; events.ts) */
  seen: { events: string[]; fallIds: string[] };
  revision: number;
  deviceId: string;
  site: string;
  residentId: string | null;
  residentName: string | null;
  type: AlertType;
  level: AlertLevel;
  skipCancelWindow: boolean;
  edgeState: EdgeState;
  status: AlertStatus;
  outcome: string | null;
  claimedBy: string | null;
  claimedAt: number | null;
  resolvedBy: string | null;
  resolvedAt: number | null;
  note: string | null;
  firstEventAtMs: number;
  openedAt: number;
  updatedAt: number;
  ladder: LadderPosition;
  nextDueAtMs: number | null;
  report: AlertReport;
}

export interface TimelineEntry { atMs: number; kind: string; actor: string | null; detail: unknown }

/** A timeline row to write. */
export interface TimelineAdd { alertId: string; atMs: number; kind: string; actor: string | null; detail?: unknown }

export interface NotificationRecord {
  id: string;
  intentKey: string;
  alertId: string;
  userId: string;
  step: number;
  kind: NotificationKind;
  recipient: Recipient | null;
  channelIndex: number;
  channelType: string | null;
  status: NotificationStatus;
  attempts: number;
  createdAt: number;
  sentAt: number | null;
  deliveredAt: number | null;
  readAt: number | null;
  error: string | null;
}

export type NotificationPatch = Partial<Pick<NotificationRecord, 'channelIndex' | 'channelType' | 'status' | 'attempts' | 'sentAt' | 'deliveredAt' | 'readAt' | 'error'>>;

export interface AttemptRecord { atMs: number; channelIndex: number; channelType: string; ok: boolean; error: string | null }

export interface AlertFilter { status?: AlertStatus; residentId?: string; residents: string[] | 'all'; includeUnassigned: boolean; limit: number }

/** Which alert a change applies to: by id, or the newest of an edge alert's chain. */
export type AlertTarget = string | { edge: string };

/** What one change writes, all in one transaction: the alert, its timeline rows, its intents. */
export interface AlertWrite { alert: AlertRecord; timeline: TimelineAdd[]; intents: Intent[]; /** the intents' creation time */ now: number }

export interface ChangeContext {
  /** for an `{ edge }` target: how many cloud alerts the edge alert opened so far (0 for an id target) */
  chainLength: number;
}

export interface AlertCounts { alerts: Record<string, number>; notifications: Record<string, number>; unreached: number }

export interface AlertStore {
  /** true when several clouds may share this store (PostgreSQL): claims, polling and sweeps matter */
  readonly shared: boolean;

  /**
   * Re-reads the target alert with every other change to it excluded (SQLite: one
   * synchronous transaction; PostgreSQL: the row locked FOR UPDATE, an edge alert's chain
   * under an advisory lock so two clouds taking the same report cannot both create it),
   * lets `decide` — synchronous, no I/O, it may run again on a retried transaction — say
   * what to write, and writes it: the alert, its timeline and its intents (INSERT … ON
   * CONFLICT DO NOTHING on the intent key). Returns what was written and the ids of the
   * notification rows newly created, or null when `decide` wrote nothing.
   */
  change(target: AlertTarget, decide: (cur: AlertRecord | undefined, ctx: ChangeContext) => AlertWrite | null): Promise<{ alert: AlertRecord; intentIds: string[] } | null>;

  get(id: string): Promise<AlertRecord | undefined>;
  latestForEdge(edgeAlertId: string): Promise<AlertRecord | undefined>;
  chainLength(edgeAlertId: string): Promise<number>;
  unreachedIds(): Promise<string[]>;
  addTimeline(t: TimelineAdd): Promise<void>;
  timeline(alertId: string): Promise<TimelineEntry[]>;

  notification(id: string): Promise<NotificationRecord | undefined>;
  notificationsFor(alertId: string): Promise<NotificationRecord[]>;
  /**
   * Rows a dispatcher should (re)send: never attempted, mid-send, or between channels —
   * on PostgreSQL only those no live cloud holds a claim on (never claimed, or its claim
   * expired: the cloud sending it died or stalled).
   */
  openNotificationIds(): Promise<string[]>;
  /**
   * Takes (or renews) the right to send a notification for `leaseMs`. Atomic: of two
   * clouds only one gets it; a claim not renewed in time lapses, so a cloud that died
   * mid-send does not lose the step — another sends it, with the same delivery id.
   * Undefined when the row is done (delivered, failed) or someone else holds it.
   * On SQLite (one cloud) only the row's state counts.
   */
  claimNotification(id: string, owner: string, leaseMs: number): Promise<NotificationRecord | undefined>;
  /** Updates a notification and, in the same transaction, adds a timeline row. */
  updateNotification(id: string, patch: NotificationPatch, timeline?: TimelineAdd): Promise<void>;
  addAttempt(notificationId: string, atMs: number, channelIndex: number, channelType: string, ok: boolean, error: string | null): Promise<void>;
  attempts(notificationId: string): Promise<AttemptRecord[]>;

  dueAlertIds(now: number, limit?: number): Promise<string[]>;
  earliestDue(): Promise<number | null>;
  list(f: AlertFilter): Promise<AlertRecord[]>;
  openOrChangedSince(sinceMs: number, limit: number): Promise<AlertRecord[]>;
  alertsOfResident(residentId: string): Promise<AlertRecord[]>;
  /** Retention: up to `limit` alerts resolved before `cutoffMs`, with everything they own. Idempotent. */
  pruneResolved(cutoffMs: number, limit: number): Promise<number>;
  eraseResident(residentId: string): Promise<number>;
  residentsPagedTo(userId: string): Promise<string[]>;
  counts(): Promise<AlertCounts>;
  /**
   * Several clouds: calls `fn` with the id of every alert another cloud changed (PostgreSQL
   * LISTEN/NOTIFY, sent when that change commits), so this cloud's care pages and ladder
   * timer hear of it. Absent on SQLite (one cloud).
   */
  watchRemote?(fn: (alertId: string) => void): Promise<void>;
  close(): Promise<void>;
}

export const newDeliveryId = (): string => `dl_${randomBytes(12).toString('base64url')}`;
