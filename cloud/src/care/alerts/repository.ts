import type Database from 'better-sqlite3';
import { openMigratedDb } from '../../repositories/sqlite.js';
import type { Intent } from './ladder.js';
import { NOTIFICATION_COLUMNS, toAlert, toAttempt, toNotification, toTimeline, type Row } from './rows.js';
import { MIGRATIONS } from './schema-sql.js';
import {
  newDeliveryId, type AlertCounts, type AlertFilter, type AlertRecord, type AlertStore, type AlertTarget, type AlertWrite, type AttemptRecord,
  type ChangeContext, type NotificationPatch, type NotificationRecord, type TimelineAdd, type TimelineEntry,
} from './store.js';

export type { AlertRecord, NotificationRecord, TimelineEntry, AlertFilter } from './store.js';
export { newDeliveryId } from './store.js';

/**
 * alerts.sqlite (one cloud): better-sqlite3 is synchronous, so each method's work is one
 * uninterrupted step and `change` one transaction nothing else interleaves with.
 */
export class SqliteAlertStore implements AlertStore {
  readonly shared = false;
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = openMigratedDb(file, MIGRATIONS, 'alerts');
  }

  private tx<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  private getSync(id: string): AlertRecord | undefined {
    const r = this.db.prepare('SELECT * FROM alerts WHERE id = ?').get(id) as Row | undefined;
    return r && toAlert(r);
  }

  private latestSync(edgeAlertId: string): AlertRecord | undefined {
    const r = this.db.prepare('SELECT * FROM alerts WHERE edge_alert_id = ? ORDER BY opened_at DESC, rowid DESC LIMIT 1').get(edgeAlertId) as Row | undefined;
    return r && toAlert(r);
  }

  private chainSync(edgeAlertId: string): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM alerts WHERE edge_alert_id = ?').get(edgeAlertId) as Row).n as number;
  }

  async change(target: AlertTarget, decide: (cur: AlertRecord | undefined, ctx: ChangeContext) => AlertWrite | null): Promise<{ alert: AlertRecord; intentIds: string[] } | null> {
    return this.tx(() => {
      const cur = typeof target === 'string' ? this.getSync(target) : this.latestSync(target.edge);
      const w = decide(cur, { chainLength: typeof target === 'string' ? 0 : this.chainSync(target.edge) });
      if (!w) return null;
      this.save(w.alert);
      const intentIds = this.insertIntents(w.intents, w.now);
      for (const t of w.timeline) this.timelineSync(t);
      return { alert: w.alert, intentIds };
    });
  }

  private save(a: AlertRecord): void {
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

  /** INSERT OR IGNORE on the intent key: re-deciding after a crash never makes a second intent. */
  private insertIntents(intents: Intent[], now: number): string[] {
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

  private timelineSync(t: TimelineAdd): void {
    this.db.prepare('INSERT INTO timeline (alert_id, at_ms, kind, actor, detail) VALUES (?, ?, ?, ?, ?)')
      .run(t.alertId, t.atMs, t.kind, t.actor, t.detail === undefined ? null : JSON.stringify(t.detail));
  }

  async get(id: string): Promise<AlertRecord | undefined> {
    return this.getSync(id);
  }

  /** The newest cloud alert an edge alert maps to (later ones follow a closed one). */
  async latestForEdge(edgeAlertId: string): Promise<AlertRecord | undefined> {
    return this.latestSync(edgeAlertId);
  }

  /** How many cloud alerts one edge alert has opened so far. */
  async chainLength(edgeAlertId: string): Promise<number> {
    return this.chainSync(edgeAlertId);
  }

  /** Open alerts that nobody could be reached for in time (an incident each). */
  async unreachedIds(): Promise<string[]> {
    return (this.db.prepare(
      `SELECT id FROM alerts WHERE unreached_at_ms IS NOT NULL AND status IN ('raised', 'notifying') ORDER BY unreached_at_ms`,
    ).all() as Row[]).map((r) => r.id as string);
  }

  async addTimeline(t: TimelineAdd): Promise<void> {
    this.timelineSync(t);
  }

  async timeline(alertId: string): Promise<TimelineEntry[]> {
    return (this.db.prepare('SELECT at_ms, kind, actor, detail FROM timeline WHERE alert_id = ? ORDER BY seq').all(alertId) as Row[]).map(toTimeline);
  }

  async notification(id: string): Promise<NotificationRecord | undefined> {
    const r = this.db.prepare('SELECT * FROM notifications WHERE id = ?').get(id) as Row | undefined;
    return r && toNotification(r);
  }

  async notificationsFor(alertId: string): Promise<NotificationRecord[]> {
    return (this.db.prepare('SELECT * FROM notifications WHERE alert_id = ? ORDER BY created_at, rowid').all(alertId) as Row[]).map(toNotification);
  }

  /** Rows a restart must still send: never attempted, mid-send, or between channels. */
  async openNotificationIds(): Promise<string[]> {
    return (this.db.prepare(`SELECT id FROM notifications WHERE status IN ('pending', 'sent', 'fallback') ORDER BY created_at, rowid`).all() as Row[]).map((r) => r.id as string);
  }

  /** One cloud per file: a row still open is this process's to send (the dispatcher queues each once). */
  async claimNotification(id: string): Promise<NotificationRecord | undefined> {
    const n = await this.notification(id);
    return n && (n.status === 'pending' || n.status === 'sent' || n.status === 'fallback') ? n : undefined;
  }

  async updateNotification(id: string, patch: NotificationPatch, timeline?: TimelineAdd): Promise<void> {
    const keys = Object.keys(patch).filter((k) => k in NOTIFICATION_COLUMNS);
    this.tx(() => {
      if (keys.length > 0) {
        const set = keys.map((k) => `${NOTIFICATION_COLUMNS[k]} = @${k}`).join(', ');
        this.db.prepare(`UPDATE notifications SET ${set} WHERE id = @id`).run({ ...patch, id });
      }
      if (timeline) this.timelineSync(timeline);
    });
  }

  async addAttempt(notificationId: string, atMs: number, channelIndex: number, channelType: string, ok: boolean, error: string | null): Promise<void> {
    this.db.prepare('INSERT INTO attempts (notification_id, at_ms, channel_index, channel_type, ok, error) VALUES (?, ?, ?, ?, ?, ?)')
      .run(notificationId, atMs, channelIndex, channelType, ok ? 1 : 0, error);
  }

  async attempts(notificationId: string): Promise<AttemptRecord[]> {
    return (this.db.prepare('SELECT * FROM attempts WHERE notification_id = ? ORDER BY seq').all(notificationId) as Row[]).map(toAttempt);
  }

  async dueAlertIds(now: number, limit = 100): Promise<string[]> {
    return (this.db.prepare('SELECT id FROM alerts WHERE next_due_at_ms IS NOT NULL AND next_due_at_ms <= ? ORDER BY next_due_at_ms LIMIT ?').all(now, limit) as Row[]).map((r) => r.id as string);
  }

  async earliestDue(): Promise<number | null> {
    const r = this.db.prepare('SELECT MIN(next_due_at_ms) AS t FROM alerts WHERE next_due_at_ms IS NOT NULL').get() as Row;
    return (r.t as number | null) ?? null;
  }

  async list(f: AlertFilter): Promise<AlertRecord[]> {
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
  async openOrChangedSince(sinceMs: number, limit: number): Promise<AlertRecord[]> {
    return (this.db.prepare("SELECT * FROM alerts WHERE status NOT IN ('resolved', 'cancelled') OR updated_at >= ? ORDER BY updated_at, id LIMIT ?")
      .all(sinceMs, limit) as Row[]).map(toAlert);
  }

  async alertsOfResident(residentId: string): Promise<AlertRecord[]> {
    return (this.db.prepare('SELECT * FROM alerts WHERE resident_id = ? ORDER BY opened_at').all(residentId) as Row[]).map(toAlert);
  }

  /**
   * Retention (docs/deploy.md): up to `limit` alerts resolved before `cutoffMs`, with their
   * timeline, notifications and attempts, in one transaction. Open alerts are never pruned.
   * `opened_at < cutoff` is implied by `resolved_at < cutoff` and lets the status index work.
   */
  async pruneResolved(cutoffMs: number, limit: number): Promise<number> {
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

  async eraseResident(residentId: string): Promise<number> {
    return this.tx(() => {
      const sub = 'SELECT id FROM alerts WHERE resident_id = ?';
      this.db.prepare(`DELETE FROM attempts WHERE notification_id IN (SELECT id FROM notifications WHERE alert_id IN (${sub}))`).run(residentId);
      this.db.prepare(`DELETE FROM notifications WHERE alert_id IN (${sub})`).run(residentId);
      this.db.prepare(`DELETE FROM timeline WHERE alert_id IN (${sub})`).run(residentId);
      return this.db.prepare('DELETE FROM alerts WHERE resident_id = ?').run(residentId).changes;
    });
  }

  /** Residents with an open alert paged to this user. */
  async residentsPagedTo(userId: string): Promise<string[]> {
    return (this.db.prepare(
      `SELECT DISTINCT a.resident_id AS r FROM notifications n JOIN alerts a ON a.id = n.alert_id
       WHERE n.user_id = ? AND n.kind = 'page' AND a.resident_id IS NOT NULL AND a.status IN ('raised', 'notifying', 'acknowledged')`,
    ).all(userId) as Row[]).map((r) => r.r as string);
  }

  async counts(): Promise<AlertCounts> {
    const alerts = Object.fromEntries((this.db.prepare('SELECT status, COUNT(*) AS n FROM alerts GROUP BY status').all() as Row[]).map((r) => [r.status as string, r.n as number]));
    const notifications = Object.fromEntries((this.db.prepare(`SELECT COALESCE(channel_type, 'none') || ':' || status AS k, COUNT(*) AS n FROM notifications GROUP BY k`).all() as Row[]).map((r) => [r.k as string, r.n as number]));
    const unreached = (this.db.prepare(
      `SELECT COUNT(*) AS n FROM alerts WHERE unreached_at_ms IS NOT NULL AND status IN ('raised', 'notifying')`,
    ).get() as Row).n as number;
    return { alerts, notifications, unreached };
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
