import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { PostgresDatabase, Sql } from '../../db/postgres.js';
import { NOTIFICATION_COLUMNS, toAlert, toAttempt, toNotification, toTimeline, type Row } from './rows.js';
import {
  newDeliveryId, type AlertCounts, type AlertFilter, type AlertRecord, type AlertStore, type AlertTarget, type AlertWrite, type AttemptRecord,
  type ChangeContext, type NotificationPatch, type NotificationRecord, type TimelineAdd, type TimelineEntry,
} from './store.js';
import { ALERTS_PG_MIGRATIONS } from './pg-schema.js';

export { ALERTS_PG_MIGRATIONS } from './pg-schema.js';

/** The database server's clock in epoch ms: claims between clouds must not trust each cloud's own clock. */
const DB_NOW = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";
const OPEN = "('pending', 'sent', 'fallback')";
const js = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));
/** The channel alert changes are announced on: `<origin>|<alert id>`. */
const CHANNEL = 'yulan_alerts_changed';

/**
 * The alert store in PostgreSQL, for several clouds on one database. Where alerts.sqlite
 * relied on being the only writer, this one decides in the database:
 * - every change to an alert holds its row (FOR UPDATE); a change to an edge alert's chain
 *   (intake) first takes an advisory lock on the edge alert id, so the same report reaching
 *   two clouds creates one alert, and the later one sees the revision already stored;
 * - notification intents are unique by key (INSERT … ON CONFLICT DO NOTHING);
 * - a notification is sent by the cloud holding its claim (a conditional UPDATE … RETURNING);
 *   a claim not renewed lapses, and the row is then another cloud's to send.
 */
export class PgAlertStore implements AlertStore {
  readonly shared = true;
  /** this store's name in change announcements, so it does not hear its own */
  private readonly origin = randomUUID();
  private listener: pg.PoolClient | undefined;
  private remote: ((alertId: string) => void) | undefined;
  private unlisten: ((err?: Error) => void) | undefined;
  private closed = false;

  private constructor(private readonly db: PostgresDatabase) {}

  static async open(db: PostgresDatabase): Promise<PgAlertStore> {
    await db.migrate('alerts', ALERTS_PG_MIGRATIONS);
    return new PgAlertStore(db);
  }

  async change(target: AlertTarget, decide: (cur: AlertRecord | undefined, ctx: ChangeContext) => AlertWrite | null): Promise<{ alert: AlertRecord; intentIds: string[] } | null> {
    return this.db.tx('changing an alert', async (sql) => {
      let cur: AlertRecord | undefined;
      let chainLength = 0;
      if (typeof target === 'string') {
        const r = await sql.query('SELECT * FROM alerts.alerts WHERE id = $1 FOR UPDATE', [target]);
        cur = r.rows[0] && toAlert(r.rows[0] as Row);
      } else {
        await sql.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`yulan-alert-edge:${target.edge}`]);
        const r = await sql.query('SELECT * FROM alerts.alerts WHERE edge_alert_id = $1 ORDER BY opened_at DESC, seq DESC LIMIT 1 FOR UPDATE', [target.edge]);
        cur = r.rows[0] && toAlert(r.rows[0] as Row);
        chainLength = (await sql.query<{ n: number }>('SELECT count(*)::int8 AS n FROM alerts.alerts WHERE edge_alert_id = $1', [target.edge])).rows[0]?.n ?? 0;
      }
      const w = decide(cur, { chainLength });
      if (!w) return null;
      await save(sql, w.alert);
      const intentIds: string[] = [];
      for (const i of w.intents) {
        const r = await sql.query(
          `INSERT INTO alerts.notifications (id, intent_key, alert_id, user_id, step, kind, recipient, status, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, 'pending', $8) ON CONFLICT (intent_key) DO NOTHING RETURNING id`,
          [newDeliveryId(), i.key, i.alertId, i.userId, i.step, i.kind, i.recipient === null ? null : js(i.recipient), w.now]);
        if (r.rowCount === 1) intentIds.push((r.rows[0] as Row).id as string);
      }
      for (const t of w.timeline) await insertTimeline(sql, t);
      // Delivered to the other clouds when (and only if) this transaction commits.
      await sql.query('SELECT pg_notify($1, $2)', [CHANNEL, `${this.origin}|${w.alert.id}`]);
      return { alert: w.alert, intentIds };
    });
  }

  private async rows(what: string, text: string, values: unknown[] = []): Promise<Row[]> {
    return (await this.db.query(what, text, values)).rows as Row[];
  }

  async get(id: string): Promise<AlertRecord | undefined> {
    const [r] = await this.rows('reading an alert', 'SELECT * FROM alerts.alerts WHERE id = $1', [id]);
    return r && toAlert(r);
  }

  async latestForEdge(edgeAlertId: string): Promise<AlertRecord | undefined> {
    const [r] = await this.rows('reading an alert', 'SELECT * FROM alerts.alerts WHERE edge_alert_id = $1 ORDER BY opened_at DESC, seq DESC LIMIT 1', [edgeAlertId]);
    return r && toAlert(r);
  }

  async chainLength(edgeAlertId: string): Promise<number> {
    const [r] = await this.rows('counting alerts', 'SELECT count(*)::int8 AS n FROM alerts.alerts WHERE edge_alert_id = $1', [edgeAlertId]);
    return (r?.n as number) ?? 0;
  }

  async unreachedIds(): Promise<string[]> {
    return (await this.rows('reading unreached alerts',
      `SELECT id FROM alerts.alerts WHERE unreached_at_ms IS NOT NULL AND status IN ('raised', 'notifying') ORDER BY unreached_at_ms`)).map((r) => r.id as string);
  }

  async addTimeline(t: TimelineAdd): Promise<void> {
    await this.db.tx('writing a timeline row', (sql) => insertTimeline(sql, t));
  }

  async timeline(alertId: string): Promise<TimelineEntry[]> {
    return (await this.rows('reading a timeline', 'SELECT at_ms, kind, actor, detail FROM alerts.timeline WHERE alert_id = $1 ORDER BY seq', [alertId])).map(toTimeline);
  }

  async notification(id: string): Promise<NotificationRecord | undefined> {
    const [r] = await this.rows('reading a notification', 'SELECT * FROM alerts.notifications WHERE id = $1', [id]);
    return r && toNotification(r);
  }

  async notificationsFor(alertId: string): Promise<NotificationRecord[]> {
    return (await this.rows('reading notifications', 'SELECT * FROM alerts.notifications WHERE alert_id = $1 ORDER BY created_at, seq', [alertId])).map(toNotification);
  }

  async openNotificationIds(): Promise<string[]> {
    return (await this.rows('reading open notifications',
      `SELECT id FROM alerts.notifications WHERE status IN ${OPEN} AND (claim_until_ms IS NULL OR claim_until_ms < ${DB_NOW})
       ORDER BY created_at, seq`)).map((r) => r.id as string);
  }

  async claimNotification(id: string, owner: string, leaseMs: number): Promise<NotificationRecord | undefined> {
    const [r] = await this.rows('claiming a notification',
      `UPDATE alerts.notifications SET claimed_by = $2, claim_until_ms = ${DB_NOW} + $3
       WHERE id = $1 AND status IN ${OPEN} AND (claimed_by = $2 OR claim_until_ms IS NULL OR claim_until_ms < ${DB_NOW})
       RETURNING *`, [id, owner, leaseMs]);
    return r && toNotification(r);
  }

  async updateNotification(id: string, patch: NotificationPatch, timeline?: TimelineAdd): Promise<void> {
    const keys = Object.keys(patch).filter((k) => k in NOTIFICATION_COLUMNS);
    await this.db.tx('updating a notification', async (sql) => {
      if (keys.length > 0) {
        // Column names come from the fixed map; values are parameters.
        const set = keys.map((k, i) => `${NOTIFICATION_COLUMNS[k]} = $${i + 2}`).join(', ');
        await sql.query(`UPDATE alerts.notifications SET ${set} WHERE id = $1`, [id, ...keys.map((k) => (patch as Record<string, unknown>)[k])]);
      }
      if (timeline) await insertTimeline(sql, timeline);
    });
  }

  async addAttempt(notificationId: string, atMs: number, channelIndex: number, channelType: string, ok: boolean, error: string | null): Promise<void> {
    await this.db.query('recording a delivery attempt',
      'INSERT INTO alerts.attempts (notification_id, at_ms, channel_index, channel_type, ok, error) VALUES ($1, $2, $3, $4, $5, $6)',
      [notificationId, atMs, channelIndex, channelType, ok, error]);
  }

  async attempts(notificationId: string): Promise<AttemptRecord[]> {
    return (await this.rows('reading attempts', 'SELECT * FROM alerts.attempts WHERE notification_id = $1 ORDER BY seq', [notificationId])).map(toAttempt);
  }

  async dueAlertIds(now: number, limit = 100): Promise<string[]> {
    return (await this.rows('reading due alerts',
      'SELECT id FROM alerts.alerts WHERE next_due_at_ms IS NOT NULL AND next_due_at_ms <= $1 ORDER BY next_due_at_ms LIMIT $2', [now, limit])).map((r) => r.id as string);
  }

  async earliestDue(): Promise<number | null> {
    const [r] = await this.rows('reading the next due time', 'SELECT min(next_due_at_ms) AS t FROM alerts.alerts WHERE next_due_at_ms IS NOT NULL');
    return (r?.t as number | null) ?? null;
  }

  async list(f: AlertFilter): Promise<AlertRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const p = (v: unknown): string => { params.push(v); return `$${params.length}`; };
    if (f.status !== undefined) where.push(`status = ${p(f.status)}`);
    if (f.residentId !== undefined) where.push(`resident_id = ${p(f.residentId)}`);
    if (f.residents !== 'all') {
      const scope = [`resident_id = ANY(${p(f.residents)}::text[])`];
      if (f.includeUnassigned) scope.push('resident_id IS NULL');
      where.push(`(${scope.join(' OR ')})`);
    } else if (!f.includeUnassigned) where.push('resident_id IS NOT NULL');
    const text = `SELECT * FROM alerts.alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY opened_at DESC LIMIT ${p(f.limit)}`;
    return (await this.rows('listing alerts', text, params)).map(toAlert);
  }

  async openOrChangedSince(sinceMs: number, limit: number): Promise<AlertRecord[]> {
    return (await this.rows('listing alerts',
      "SELECT * FROM alerts.alerts WHERE status NOT IN ('resolved', 'cancelled') OR updated_at >= $1 ORDER BY updated_at, id LIMIT $2", [sinceMs, limit])).map(toAlert);
  }

  async alertsOfResident(residentId: string): Promise<AlertRecord[]> {
    return (await this.rows('reading a resident\'s alerts', 'SELECT * FROM alerts.alerts WHERE resident_id = $1 ORDER BY opened_at', [residentId])).map(toAlert);
  }

  /** Idempotent, and two clouds pruning at once take different rows (SKIP LOCKED). */
  async pruneResolved(cutoffMs: number, limit: number): Promise<number> {
    return this.db.tx('pruning resolved alerts', async (sql) => {
      const ids = (await sql.query(
        `SELECT id FROM alerts.alerts WHERE status = 'resolved' AND opened_at < $1 AND resolved_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [cutoffMs, limit])).rows.map((r) => (r as Row).id as string);
      if (ids.length === 0) return 0;
      return deleteAlerts(sql, 'id = ANY($1::text[])', [ids]);
    });
  }

  async eraseResident(residentId: string): Promise<number> {
    return this.db.tx('erasing a resident\'s alerts', (sql) => deleteAlerts(sql, 'resident_id = $1', [residentId]));
  }

  async residentsPagedTo(userId: string): Promise<string[]> {
    return (await this.rows('reading paged residents',
      `SELECT DISTINCT a.resident_id AS r FROM alerts.notifications n JOIN alerts.alerts a ON a.id = n.alert_id
       WHERE n.user_id = $1 AND n.kind = 'page' AND a.resident_id IS NOT NULL AND a.status IN ('raised', 'notifying', 'acknowledged')`, [userId])).map((r) => r.r as string);
  }

  async counts(): Promise<AlertCounts> {
    const alerts = Object.fromEntries((await this.rows('counting alerts', 'SELECT status, count(*)::int8 AS n FROM alerts.alerts GROUP BY status'))
      .map((r) => [r.status as string, r.n as number]));
    const notifications = Object.fromEntries((await this.rows('counting notifications',
      `SELECT COALESCE(channel_type, 'none') || ':' || status AS k, count(*)::int8 AS n FROM alerts.notifications GROUP BY 1`)).map((r) => [r.k as string, r.n as number]));
    const [u] = await this.rows('counting unreached alerts',
      `SELECT count(*)::int8 AS n FROM alerts.alerts WHERE unreached_at_ms IS NOT NULL AND status IN ('raised', 'notifying')`);
    return { alerts, notifications, unreached: (u?.n as number) ?? 0 };
  }

  async watchRemote(fn: (alertId: string) => void): Promise<void> {
    this.remote = fn;
    if (!this.listener) await this.listen();
  }

  /** One pooled connection held for LISTEN; re-opened after it breaks (timers poll meanwhile). */
  private async listen(): Promise<void> {
    if (this.closed) return;
    const client = await this.db.pool.connect();
    let released = false;
    const drop = (err?: Error): void => {
      if (released) return;
      released = true;
      client.removeListener('notification', onNote);
      client.removeListener('error', onError);
      if (this.listener === client) this.listener = undefined;
      // Destroyed rather than pooled: a connection that was LISTENing is not handed out again.
      client.release(err ?? true);
    };
    const onNote = (m: pg.Notification): void => {
      const [origin, id] = (m.payload ?? '').split('|', 2);
      if (origin !== this.origin && id) this.remote?.(id);
    };
    const onError = (err: Error): void => {
      drop(err);
      if (!this.closed) setTimeout(() => { void this.listen().catch(() => undefined); }, 1000).unref();
    };
    client.on('notification', onNote);
    client.on('error', onError);
    this.unlisten = drop;
    try {
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (err) {
      drop(err as Error);
      throw err;
    }
    this.listener = client;
  }

  /** The pool is the cloud's, shared by every store: closed by its owner; the LISTEN connection goes back to it. */
  async close(): Promise<void> {
    this.closed = true;
    this.unlisten?.();
    this.unlisten = undefined;
  }
}

async function insertTimeline(sql: Sql, t: TimelineAdd): Promise<void> {
  await sql.query('INSERT INTO alerts.timeline (alert_id, at_ms, kind, actor, detail) VALUES ($1, $2, $3, $4, $5::jsonb)',
    [t.alertId, t.atMs, t.kind, t.actor, js(t.detail)]);
}

async function deleteAlerts(sql: Sql, where: string, values: unknown[]): Promise<number> {
  const sub = `SELECT id FROM alerts.alerts WHERE ${where}`;
  await sql.query(`DELETE FROM alerts.attempts WHERE notification_id IN (SELECT id FROM alerts.notifications WHERE alert_id IN (${sub}))`, values);
  await sql.query(`DELETE FROM alerts.app_receipts WHERE delivery_id IN (SELECT id FROM alerts.notifications WHERE alert_id IN (${sub}))`, values);
  await sql.query(`DELETE FROM alerts.notifications WHERE alert_id IN (${sub})`, values);
  await sql.query(`DELETE FROM alerts.timeline WHERE alert_id IN (${sub})`, values);
  return (await sql.query(`DELETE FROM alerts.alerts WHERE ${where}`, values)).rowCount ?? 0;
}

async function save(sql: Sql, a: AlertRecord): Promise<void> {
  await sql.query(
    `INSERT INTO alerts.alerts (id, revision, device_id, site, resident_id, resident_name, type, level, skip_cancel_window, edge_state, status,
       outcome, claimed_by, claimed_at, resolved_by, resolved_at, note, first_event_at_ms, opened_at, updated_at, ladder,
       next_due_at_ms, report, edge_alert_id, previous_alert_id, unreached_at_ms, seen)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21::jsonb, $22, $23::jsonb, $24, $25, $26, $27::jsonb)
     ON CONFLICT (id) DO UPDATE SET revision = EXCLUDED.revision, device_id = EXCLUDED.device_id, site = EXCLUDED.site,
       resident_id = EXCLUDED.resident_id, resident_name = EXCLUDED.resident_name, type = EXCLUDED.type, level = EXCLUDED.level,
       skip_cancel_window = EXCLUDED.skip_cancel_window, edge_state = EXCLUDED.edge_state, status = EXCLUDED.status,
       outcome = EXCLUDED.outcome, claimed_by = EXCLUDED.claimed_by, claimed_at = EXCLUDED.claimed_at,
       resolved_by = EXCLUDED.resolved_by, resolved_at = EXCLUDED.resolved_at, note = EXCLUDED.note,
       first_event_at_ms = EXCLUDED.first_event_at_ms, updated_at = EXCLUDED.updated_at, ladder = EXCLUDED.ladder,
       next_due_at_ms = EXCLUDED.next_due_at_ms, report = EXCLUDED.report, unreached_at_ms = EXCLUDED.unreached_at_ms,
       seen = EXCLUDED.seen`,
    [a.id, a.revision, a.deviceId, a.site, a.residentId, a.residentName, a.type, a.level, a.skipCancelWindow, a.edgeState, a.status,
      a.outcome, a.claimedBy, a.claimedAt, a.resolvedBy, a.resolvedAt, a.note, a.firstEventAtMs, a.openedAt, a.updatedAt, js(a.ladder),
      a.nextDueAtMs, js(a.report), a.edgeAlertId, a.previousAlertId, a.ladder.unreachedAtMs ?? null, js(a.seen)]);
}
