import type Database from 'better-sqlite3';
import { DataError } from '@yulan/protos';
import type { AlertRecord, DeviceRuleState } from '../domain/alert-types.js';
import { EdgeError, EdgeErrorCode } from '../errors.js';
import { openEdgeDb } from '../sqlite-file.js';

/** One fallback attempt, as sent to the cloud in `edgeNotifications`. */
export interface EdgeNotification {
  channel: 'webhook' | 'email';
  target: string;
  atMs: number;
  ok: boolean;
  attempt: number;
  error?: string;
}

/** The `AlertReport` body of docs/care.md §2. */
export type AlertReport = AlertRecord & { edgeNotifications: EdgeNotification[] };

export interface PendingDelivery {
  alertId: string;
  revision: number;
  attempts: number;
  report: AlertReport;
}

export const PageStatus = { Sending: 'sending', Sent: 'sent', Failed: 'failed' } as const;
export type PageStatus = (typeof PageStatus)[keyof typeof PageStatus];

export interface FallbackPage {
  alertId: string;
  channel: 'webhook' | 'email';
  deliveryId: string;
  status: PageStatus;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS rule_state (device_id TEXT PRIMARY KEY, state TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY, device_id TEXT NOT NULL, type TEXT NOT NULL, level TEXT NOT NULL, state TEXT NOT NULL,
    revision INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL, body TEXT NOT NULL,
    urgent_at_ms INTEGER,
    accepted_revision INTEGER NOT NULL DEFAULT 0,
    accepted_urgent INTEGER NOT NULL DEFAULT 0,
    fallback_started INTEGER NOT NULL DEFAULT 0);
  CREATE INDEX IF NOT EXISTS alerts_updated ON alerts(updated_at_ms);
  CREATE TABLE IF NOT EXISTS alert_outbox (
    alert_id TEXT PRIMARY KEY, revision INTEGER NOT NULL, status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_at_ms INTEGER NOT NULL DEFAULT 0, urgent INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS edge_notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT, alert_id TEXT NOT NULL, body TEXT NOT NULL);
  CREATE INDEX IF NOT EXISTS edge_notifications_alert ON edge_notifications(alert_id);
  CREATE TABLE IF NOT EXISTS fallback_pages (
    alert_id TEXT NOT NULL, channel TEXT NOT NULL, delivery_id TEXT NOT NULL, status TEXT NOT NULL,
    PRIMARY KEY (alert_id, channel));
  CREATE TABLE IF NOT EXISTS care_rules (id INTEGER PRIMARY KEY CHECK (id = 1), body TEXT NOT NULL, fetched_at_ms INTEGER NOT NULL);`;

/**
 * alerts.db: rule state per device, every alert's latest revision, the delivery outbox to
 * the cloud (one row per alert: the latest revision wins), the fallback pages and the
 * cached care rules. WAL + synchronous=NORMAL like outbox.db.
 *
 * Wire revisions are assigned here, not taken blindly from the rules: the fallback adds
 * revisions of its own (to carry `edgeNotifications`), so every write is at least the
 * stored revision + 1 and the cloud always sees a strictly increasing sequence.
 */
export class AlertStore {
  private readonly db: Database.Database;
  private readonly commitTx: (states: DeviceRuleState[], alerts: AlertRecord[], now: number) => void;

  constructor(path: string) {
    try {
      this.db = openEdgeDb(path, 'alerts', [SCHEMA]);
    } catch (err) {
      if (err instanceof DataError) throw err;
      throw new EdgeError(EdgeErrorCode.AlertStore, `cannot open alert store ${path}`, { cause: err });
    }
    const upsertState = this.db.prepare(
      'INSERT INTO rule_state (device_id, state) VALUES (?, ?) ON CONFLICT(device_id) DO UPDATE SET state = excluded.state');
    this.commitTx = this.db.transaction((states: DeviceRuleState[], alerts: AlertRecord[], now: number) => {
      for (const s of states) upsertState.run(s.deviceId, JSON.stringify(s));
      for (const a of alerts) this.writeRevision(a, now);
    });
  }

  private writeRevision(a: AlertRecord, now: number): AlertRecord {
    const prev = this.db.prepare('SELECT revision FROM alerts WHERE id = ?').get(a.id) as { revision: number } | undefined;
    const rec = { ...a, revision: Math.max(a.revision, (prev?.revision ?? 0) + 1) };
    const urgent = rec.level === 'urgent' ? 1 : 0;
    this.db.prepare(`
      INSERT INTO alerts (id, device_id, type, level, state, revision, updated_at_ms, body, urgent_at_ms)
      VALUES (@id, @deviceId, @type, @level, @state, @revision, @updatedAtMs, @body, @urgentAt)
      ON CONFLICT(id) DO UPDATE SET level = excluded.level, state = excluded.state, revision = excluded.revision,
        updated_at_ms = excluded.updated_at_ms, body = excluded.body, urgent_at_ms = coalesce(urgent_at_ms, excluded.urgent_at_ms)`)
      .run({ ...rec, body: JSON.stringify(rec), urgentAt: urgent ? now : null });
    this.db.prepare(`
      INSERT INTO alert_outbox (alert_id, revision, status, attempts, next_at_ms, urgent) VALUES (?, ?, 'pending', 0, 0, ?)
      ON CONFLICT(alert_id) DO UPDATE SET revision = excluded.revision, status = 'pending', attempts = 0, next_at_ms = 0,
        urgent = excluded.urgent`).run(rec.id, rec.revision, urgent);
    return rec;
  }

  /** Rule state and alert revisions in one transaction (before the broker gets its PUBACK). */
  commit(states: DeviceRuleState[], alerts: AlertRecord[], now: number): void {
    try {
      this.commitTx(states, alerts, now);
    } catch (err) {
      throw new EdgeError(EdgeErrorCode.AlertStore, 'alert commit failed', { cause: err });
    }
  }

  loadStates(): DeviceRuleState[] {
    const rows = this.db.prepare('SELECT state FROM rule_state').all() as { state: string }[];
    return rows.map((r) => JSON.parse(r.state) as DeviceRuleState);
  }

  /** Due deliveries, urgent first. */
  duePending(now: number, limit: number): PendingDelivery[] {
    const rows = this.db.prepare(`
      SELECT o.alert_id, o.revision, o.attempts, a.body FROM alert_outbox o JOIN alerts a ON a.id = o.alert_id
      WHERE o.status = 'pending' AND o.next_at_ms <= ? ORDER BY o.urgent DESC, o.next_at_ms LIMIT ?`)
      .all(now, limit) as { alert_id: string; revision: number; attempts: number; body: string }[];
    return rows.map((r) => ({
      alertId: r.alert_id, revision: r.revision, attempts: r.attempts,
      report: { ...(JSON.parse(r.body) as AlertRecord), edgeNotifications: this.notifications(r.alert_id) },
    }));
  }

  nextDueAt(): number | undefined {
    const r = this.db.prepare("SELECT min(next_at_ms) AS t FROM alert_outbox WHERE status = 'pending'").get() as { t: number | null };
    return r.t ?? undefined;
  }

  pendingCount(): number {
    return (this.db.prepare("SELECT count(*) AS n FROM alert_outbox WHERE status = 'pending'").get() as { n: number }).n;
  }

  /** The cloud answered 2xx for `revision`; a newer revision written meanwhile stays pending. */
  markDelivered(alertId: string, revision: number, urgent: boolean): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM alert_outbox WHERE alert_id = ? AND revision = ?').run(alertId, revision);
      this.db.prepare(`UPDATE alerts SET accepted_revision = max(accepted_revision, ?),
        accepted_urgent = max(accepted_urgent, ?) WHERE id = ?`).run(revision, urgent ? 1 : 0, alertId);
    })();
  }

  /**
   * Retention: up to `limit` closed alerts (cancelled or cleared) last changed before
   * `cutoffMs` whose delivery is settled — nothing pending for the cloud, no fallback page
   * still sending — with their notifications and pages. Open alerts are never pruned.
   */
  pruneClosed(cutoffMs: number, limit: number): number {
    return this.db.transaction(() => {
      const ids = (this.db.prepare(`SELECT a.id FROM alerts a WHERE a.updated_at_ms < ? AND a.state != 'open'
          AND NOT EXISTS (SELECT 1 FROM alert_outbox o WHERE o.alert_id = a.id AND o.status = 'pending')
          AND NOT EXISTS (SELECT 1 FROM fallback_pages f WHERE f.alert_id = a.id AND f.status = 'sending')
        ORDER BY a.updated_at_ms LIMIT ?`).all(cutoffMs, limit) as { id: string }[]).map((r) => r.id);
      if (ids.length === 0) return 0;
      const list = `(${ids.map(() => '?').join(',')})`;
      for (const t of ['alert_outbox', 'edge_notifications', 'fallback_pages']) this.db.prepare(`DELETE FROM ${t} WHERE alert_id IN ${list}`).run(...ids);
      return this.db.prepare(`DELETE FROM alerts WHERE id IN ${list}`).run(...ids).changes;
    })();
  }

  /** Permanent rejection: dead-lettered until a newer revision replaces it. */
  markRejected(alertId: string, revision: number): void {
    this.db.prepare("UPDATE alert_outbox SET status = 'rejected' WHERE alert_id = ? AND revision = ?").run(alertId, revision);
  }

  markRetry(alertId: string, revision: number, nextAtMs: number): void {
    this.db.prepare('UPDATE alert_outbox SET attempts = attempts + 1, next_at_ms = ? WHERE alert_id = ? AND revision = ?')
      .run(nextAtMs, alertId, revision);
  }

  notifications(alertId: string): EdgeNotification[] {
    const rows = this.db.prepare('SELECT body FROM edge_notifications WHERE alert_id = ? ORDER BY id').all(alertId) as { body: string }[];
    return rows.map((r) => JSON.parse(r.body) as EdgeNotification);
  }

  /** Urgent, still open, never accepted by the cloud while urgent, urgent for `afterMs`, and
   * never paged (fallback_started is set before the first page goes out). */
  dueForFallback(now: number, afterMs: number): AlertRecord[] {
    const rows = this.db.prepare(`SELECT body FROM alerts WHERE urgent_at_ms IS NOT NULL AND urgent_at_ms <= ?
      AND accepted_urgent = 0 AND state = 'open' AND fallback_started = 0 ORDER BY urgent_at_ms LIMIT 50`)
      .all(now - afterMs) as { body: string }[];
    return rows.map((r) => JSON.parse(r.body) as AlertRecord);
  }

  /** Durable intent to page, written before anything is sent: a restart never pages twice. */
  beginFallback(alertId: string, pages: Omit<FallbackPage, 'status'>[]): void {
    this.db.transaction(() => {
      this.db.prepare('UPDATE alerts SET fallback_started = 1 WHERE id = ?').run(alertId);
      const ins = this.db.prepare("INSERT OR IGNORE INTO fallback_pages (alert_id, channel, delivery_id, status) VALUES (?, ?, ?, 'sending')");
      for (const p of pages) ins.run(p.alertId, p.channel, p.deliveryId);
    })();
  }

  /** Pages whose intent was written but whose outcome was not (a crash mid-send). */
  unfinishedPages(): FallbackPage[] {
    const rows = this.db.prepare("SELECT alert_id, channel, delivery_id, status FROM fallback_pages WHERE status = 'sending'").all() as
      { alert_id: string; channel: 'webhook' | 'email'; delivery_id: string; status: PageStatus }[];
    return rows.map((r) => ({ alertId: r.alert_id, channel: r.channel, deliveryId: r.delivery_id, status: r.status }));
  }

  recordAttempt(alertId: string, n: EdgeNotification): void {
    this.db.prepare('INSERT INTO edge_notifications (alert_id, body) VALUES (?, ?)').run(alertId, JSON.stringify(n));
  }

  /** Ends a page and adds a revision, so the attempts reach the cloud with the alert. */
  finishPage(alertId: string, channel: string, status: PageStatus, now: number): void {
    this.db.transaction(() => {
      this.db.prepare('UPDATE fallback_pages SET status = ? WHERE alert_id = ? AND channel = ?').run(status, alertId, channel);
      const row = this.db.prepare('SELECT body FROM alerts WHERE id = ?').get(alertId) as { body: string } | undefined;
      if (row) this.writeRevision({ ...(JSON.parse(row.body) as AlertRecord), updatedAtMs: now }, now);
    })();
  }

  alert(id: string): AlertRecord | undefined {
    const row = this.db.prepare('SELECT body FROM alerts WHERE id = ?').get(id) as { body: string } | undefined;
    return row ? (JSON.parse(row.body) as AlertRecord) : undefined;
  }

  recent(limit: number, deviceId?: string): AlertReport[] {
    const rows = (deviceId
      ? this.db.prepare('SELECT id, body FROM alerts WHERE device_id = ? ORDER BY updated_at_ms DESC LIMIT ?').all(deviceId, limit)
      : this.db.prepare('SELECT id, body FROM alerts ORDER BY updated_at_ms DESC LIMIT ?').all(limit)) as { id: string; body: string }[];
    return rows.map((r) => ({ ...(JSON.parse(r.body) as AlertRecord), edgeNotifications: this.notifications(r.id) }));
  }

  saveCareRules(body: unknown, fetchedAtMs: number): void {
    this.db.prepare(`INSERT INTO care_rules (id, body, fetched_at_ms) VALUES (1, ?, ?)
      ON CONFLICT(id) DO UPDATE SET body = excluded.body, fetched_at_ms = excluded.fetched_at_ms`).run(JSON.stringify(body), fetchedAtMs);
  }

  loadCareRules(): { body: unknown; fetchedAtMs: number } | undefined {
    const r = this.db.prepare('SELECT body, fetched_at_ms FROM care_rules WHERE id = 1').get() as { body: string; fetched_at_ms: number } | undefined;
    return r ? { body: JSON.parse(r.body) as unknown, fetchedAtMs: r.fetched_at_ms } : undefined;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
