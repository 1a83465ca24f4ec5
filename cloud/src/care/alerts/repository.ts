import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import { openMigratedDb } from '../../repositories/sqlite.js';
import type { Recipient } from '../contracts.js';
import type { Intent, LadderPosition } from './ladder.js';
import type { AlertLevel, AlertReport, AlertStatus, AlertType, EdgeState, NotificationKind, NotificationStatus } from './model.js';
import { newEvents } from './events.js';
import { MIGRATIONS } from './schema-sql.js';

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

type Row = Record<string, unknown>;

function toAlert(r: Row): AlertRecord {
  return {
    id: r.id as string, edgeAlertId: (r.edge_alert_id as string | null) ?? (r.id as string),
    previousAlertId: r.previous_alert_id as string | null,
    seen: r.seen === null || r.seen === undefined ? seenOf(JSON.parse(r.report as string) as AlertReport) : JSON.parse(r.seen as string) as AlertRecord['seen'],
    revision: r.revision as number, deviceId: r.device_id as string, site: r.site as string,
    residentId: r.resident_id as string | null, residentName: r.resident_name as string | null, type: r.type as AlertType, level: r.level as AlertLevel,
    skipCancelWindow: r.skip_cancel_window === 1, edgeState: r.edge_state as EdgeState, status: r.status as AlertStatus,
    outcome: r.outcome as string | null, claimedBy: r.claimed_by as string | null, claimedAt: r.claimed_at as number | null,
    resolvedBy: r.resolved_by as string | null, resolvedAt: r.resolved_at as number | null, note: r.note as string | null,
    firstEventAtMs: r.first_event_at_ms as number, openedAt: r.opened_at as number, updatedAt: r.updated_at as number,
    ladder: JSON.parse(r.ladder as string) as LadderPosition, nextDueAtMs: r.next_due_at_ms as number | null,
    report: JSON.parse(r.report as string) as AlertReport,
  };
}

/** Alerts stored before `seen` existed: everything their last report carried was seen. */
function seenOf(report: AlertReport): AlertRecord['seen'] {
  const fresh = newEvents(report, [], []);
  return { events: fresh.seen, fallIds: fresh.fallIds };
}

function toNotification(r: Row): NotificationRecord {
  return {
    id: r.id as string, intentKey: r.intent_key as string, alertId: r.alert_id as string, userId: r.user_id as string,
    step: r.step as number, kind: r.kind as NotificationKind,
    recipient: r.recipient === null ? null : (JSON.parse(r.recipient as string) as Recipient),
    channelIndex: r.channel_index as number, channelType: r.channel_type as string | null,
    status: r.status as NotificationStatus, attempts: r.attempts as number, createdAt: r.created_at as number,
    sentAt: r.sent_at as number | null, deliveredAt: r.delivered_at as number | null, readAt: r.read_at as number | null,
    error: r.error as string | null,
  };
}

export const newDeliveryId = (): string => `dl_${randomBytes(12).toString('base64url')}`;

export interface AlertFilter { status?: AlertStatus; residentId?: string; residents: string[] | 'all'; includeUnassigned: boolean; limit: number }

/** alerts.sqlite: alerts, their timelines, notification intents and delivery attempts. */
export class AlertRepository {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = openMigratedDb(file, MIGRATIONS, 'alerts');
  }

  /** Runs `fn` in one SQLite transaction (synchronous: nothing else interleaves). */
  tx<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  get(id: string): AlertRecord | undefined {
    const r = this.db.prepare('SELECT * FROM alerts WHERE id = ?').get(id) as Row | undefined;
    return r && toAlert(r);
  }

  save(a: AlertRecord): void {
    this.db.prepare(
      `INSERT INTO alerts (id, revision, device_id, site, resident_id, resident_name, type, level, skip_cancel_window, edge_state, status,
         outcome, claimed_by, claimed_at, resolved_by, resolved_at, note, first_event_at_ms, opened_at, updated_at, ladder,
         next_due_at_ms, report, edge_alert_id, previous_alert_id, unreached_at_ms, seen)
       VALUES (@id, @revision, @deviceId, @site, @residentId, @residentName, @type, @level, @skip, @edgeState, @status, @outcome, @claimedBy,
         @claimedAt, @resolvedBy, @resolvedAt, @note, @firstEventAtMs, @openedAt, @updatedAt, @ladder, @nextDueAtMs, @report, @edgeAlertId, @previousAlertId, @unreachedAtMs, @seen)
       ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, device_id = excluded.device_id, site = excluded.site,
         resident_id = excluded.resident_id, resident_name = excluded.resident_name, type = excluded.type, level = excluded.level,
         skip_cancel_window = excluded.skip_cancel_window, edge_state = excluded.edge_state, status = excluded.status,
         outcome = excluded.outcome, claimed_by = excluded.claimed_by, claimed_at = excluded.claimed_at,
         resolved_by = excluded.resolved_by, resolved_at = excluded.resolved_at, note = excluded.note,
         first_event_at_ms = excluded.first_event_at_ms, updated_at = excluded.updated_at, ladder = excluded.ladder,
         next_due_at_ms = excluded.next_due_at_ms, report = excluded.report, unreached_at_ms = excluded.unreached_at_ms,
         seen = excluded.seen`,
    ).run({
      ...a, skip: a.skipCancelWindow ? 1 : 0, ladder: JSON.stringify(a.ladder), report: JSON.stringify(a.report),
      unreachedAtMs: a.ladder.unreachedAtMs ?? null, seen: JSON.stringify(a.seen),
    });
  }

  /** The newest cloud alert an edge alert maps to (later ones follow a closed one). */
  latestForEdge(edgeAlertId: string): AlertRecord | undefined {
    const r = this.db.prepare('SELECT * FROM alerts WHERE edge_alert_id = ? ORDER BY opened_at DESC, rowid DESC LIMIT 1').get(edgeAlertId) as Row | undefined;
    return r && toAlert(r);
  }

  /** How many cloud alerts one edge alert has opened so far. */
  chainLength(edgeAlertId: string): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM alerts WHERE edge_alert_id = ?').get(edgeAlertId) as Row).n as number;
  }

  /** Open alerts that nobody could be reached for in time (an incident each). */
  unreachedIds(): string[] {
    return (this.db.prepare(
      `SELECT id FROM alerts WHERE unreached_at_ms IS NOT NULL AND status IN ('raised', 'notifying') ORDER BY unreached_at_ms`,
    ).all() as Row[]).map((r) => r.id as string);
  }

  addTimeline(alertId: string, atMs: number, kind: string, actor: string | null, detail?: unknown): void {
    this.db.prepare('INSERT INTO timeline (alert_id, at_ms, kind, actor, detail) VALUES (?, ?, ?, ?, ?)')
      .run(alertId, atMs, kind, actor, detail === undefined ? null : JSON.stringify(detail));
  }

  timeline(alertId: string): TimelineEntry[] {
    const rows = this.db.prepare('SELECT at_ms, kind, actor, detail FROM timeline WHERE alert_id = ? ORDER BY seq').all(alertId) as Row[];
    return rows.map((r) => ({ atMs: r.at_ms as number, kind: r.kind as string, actor: r.actor as string | null, detail: r.detail === null ? null : JSON.parse(r.detail as string) }));
  }

  /** INSERT OR IGNORE on the intent key: re-deciding after a crash never makes a second intent. */
  insertIntents(intents: Intent[], now: number): string[] {
    const stmt = this.db.prepare(
      `INSERT OR IGNORE INTO notifications (id, intent_key, alert_id, user_id, step, kind, recipient, status, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)`,
    );
    const ids: string[] = [];
    for (const i of intents) {
      const id = newDeliveryId();
      const r = stmt.run(id, i.key, i.alertId, i.userId, i.step, i.kind, i.recipient === null ? null : JSON.stringify(i.recipient), now);
      if (r.changes === 1) ids.push(id);
    }
    return ids;
  }

  notification(id: string): NotificationRecord | undefined {
    const r = this.db.prepare('SELECT * FROM notifications WHERE id = ?').get(id) as Row | undefined;
    return r && toNotification(r);
  }

  notificationsFor(alertId: string): NotificationRecord[] {
    return (this.db.prepare('SELECT * FROM notifications WHERE alert_id = ? ORDER BY created_at, rowid').all(alertId) as Row[]).map(toNotification);
  }

  /** Rows a restart must still send: never attempted, mid-send, or between channels. */
  openNotificationIds(): string[] {
    return (this.db.prepare(`SELECT id FROM notifications WHERE status IN ('pending', 'sent', 'fallback') ORDER BY created_at, rowid`).all() as Row[]).map((r) => r.id as string);
  }

  updateNotification(id: string, patch: Partial<Pick<NotificationRecord, 'channelIndex' | 'channelType' | 'status' | 'attempts' | 'sentAt' | 'deliveredAt' | 'readAt' | 'error'>>): void {
    const cols: Record<string, string> = {
      channelIndex: 'channel_index', channelType: 'channel_type', status: 'status', attempts: 'attempts',
      sentAt: 'sent_at', deliveredAt: 'delivered_at', readAt: 'read_at', error: 'error',
    };
    const keys = Object.keys(patch).filter((k) => k in cols);
    if (keys.length === 0) return;
    const set = keys.map((k) => `${cols[k]} = @${k}`).join(', ');
    this.db.prepare(`UPDATE notifications SET ${set} WHERE id = @id`).run({ ...patch, id });
  }

  addAttempt(notificationId: string, atMs: number, channelIndex: number, channelType: string, ok: boolean, error: string | null): void {
    this.db.prepare('INSERT INTO attempts (notification_id, at_ms, channel_index, channel_type, ok, error) VALUES (?, ?, ?, ?, ?, ?)')
      .run(notificationId, atMs, channelIndex, channelType, ok ? 1 : 0, error);
  }

  attempts(notificationId: string): { atMs: number; channelIndex: number; channelType: string; ok: boolean; error: string | null }[] {
    return (this.db.prepare('SELECT * FROM attempts WHERE notification_id = ? ORDER BY seq').all(notificationId) as Row[])
      .map((r) => ({ atMs: r.at_ms as number, channelIndex: r.channel_index as number, channelType: r.channel_type as string, ok: r.ok === 1, error: r.error as string | null }));
  }

  dueAlertIds(now: number, limit = 100): string[] {
    return (this.db.prepare('SELECT id FROM alerts WHERE next_due_at_ms IS NOT NULL AND next_due_at_ms <= ? ORDER BY next_due_at_ms LIMIT ?').all(now, limit) as Row[]).map((r) => r.id as string);
  }

  earliestDue(): number | null {
    const r = this.db.prepare('SELECT MIN(next_due_at_ms) AS t FROM alerts WHERE next_due_at_ms IS NOT NULL').get() as Row;
    return (r.t as number | null) ?? null;
  }

  list(f: AlertFilter): AlertRecord[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (f.status !== undefined) { where.push('status = ?'); params.push(f.status); }
    if (f.residentId !== undefined) { where.push('resident_id = ?'); params.push(f.residentId); }
    if (f.residents !== 'all') {
      const scope = [`resident_id IN (SELECT value FROM json_each(?))`];
      params.push(JSON.stringify(f.residents));
      if (f.includeUnassigned) scope.push('resident_id IS NULL');
      where.push(`(${scope.join(' OR ')})`);
    } else if (!f.includeUnassigned) where.push('resident_id IS NOT NULL');
    const sql = `SELECT * FROM alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY opened_at DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...params, f.limit) as Row[]).map(toAlert);
  }

  /** Alerts not closed, and those changed at or after `sinceMs` (a stream's catch-up), oldest change first. */
  openOrChangedSince(sinceMs: number, limit: number): AlertRecord[] {
    return (this.db.prepare("SELECT * FROM alerts WHERE status NOT IN ('resolved', 'cancelled') OR updated_at >= ? ORDER BY updated_at, id LIMIT ?")
      .all(sinceMs, limit) as Row[]).map(toAlert);
  }

  alertsOfResident(residentId: string): AlertRecord[] {
    return (this.db.prepare('SELECT * FROM alerts WHERE resident_id = ? ORDER BY opened_at').all(residentId) as Row[]).map(toAlert);
  }

  /**
   * Retention (docs/deploy.md): up to `limit` alerts resolved before `cutoffMs`, with their
   * timeline, notifications and attempts, in one transaction. Open alerts are never pruned.
   * `opened_at < cutoff` is implied by `resolved_at < cutoff` and lets the status index work.
   */
  pruneResolved(cutoffMs: number, limit: number): number {
    return this.tx(() => {
      const ids = (this.db.prepare("SELECT id FROM alerts WHERE status = 'resolved' AND opened_at < ? AND resolved_at < ? LIMIT ?")
        .all(cutoffMs, cutoffMs, limit) as { id: string }[]).map((r) => r.id);
      if (ids.length === 0) return 0;
      const list = `(${ids.map(() => '?').join(',')})`;
      this.db.prepare(`DELETE FROM attempts WHERE notification_id IN (SELECT id FROM notifications WHERE alert_id IN ${list})`).run(...ids);
      this.db.prepare(`DELETE FROM notifications WHERE alert_id IN ${list}`).run(...ids);
      this.db.prepare(`DELETE FROM timeline WHERE alert_id IN ${list}`).run(...ids);
      return this.db.prepare(`DELETE FROM alerts WHERE id IN ${list}`).run(...ids).changes;
    });
  }

  eraseResident(residentId: string): number {
    return this.tx(() => {
      const sub = 'SELECT id FROM alerts WHERE resident_id = ?';
      this.db.prepare(`DELETE FROM attempts WHERE notification_id IN (SELECT id FROM notifications WHERE alert_id IN (${sub}))`).run(residentId);
      this.db.prepare(`DELETE FROM notifications WHERE alert_id IN (${sub})`).run(residentId);
      this.db.prepare(`DELETE FROM timeline WHERE alert_id IN (${sub})`).run(residentId);
      return this.db.prepare('DELETE FROM alerts WHERE resident_id = ?').run(residentId).changes;
    });
  }

  /** Residents with an open alert paged to this user. */
  residentsPagedTo(userId: string): string[] {
    return (this.db.prepare(
      `SELECT DISTINCT a.resident_id AS r FROM notifications n JOIN alerts a ON a.id = n.alert_id
       WHERE n.user_id = ? AND n.kind = 'page' AND a.resident_id IS NOT NULL AND a.status IN ('raised', 'notifying', 'acknowledged')`,
    ).all(userId) as Row[]).map((r) => r.r as string);
  }

  counts(): { alerts: Record<string, number>; notifications: Record<string, number>; unreached: number } {
    const alerts = Object.fromEntries((this.db.prepare('SELECT status, COUNT(*) AS n FROM alerts GROUP BY status').all() as Row[]).map((r) => [r.status as string, r.n as number]));
    const notifications = Object.fromEntries((this.db.prepare(`SELECT COALESCE(channel_type, 'none') || ':' || status AS k, COUNT(*) AS n FROM notifications GROUP BY k`).all() as Row[]).map((r) => [r.k as string, r.n as number]));
    const unreached = (this.db.prepare(
      `SELECT COUNT(*) AS n FROM alerts WHERE unreached_at_ms IS NOT NULL AND status IN ('raised', 'notifying')`,
    ).get() as Row).n as number;
    return { alerts, notifications, unreached };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
