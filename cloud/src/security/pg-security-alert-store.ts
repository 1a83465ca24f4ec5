import type { PostgresDatabase } from '../db/postgres.js';
import { toAlert, type OpenAlert, type Row, type SecurityAlert, type SecurityAlertStore } from './store.js';

/** ISO-8601 UTC times stay text, as in SQLite. */
const MIGRATIONS: readonly string[] = [
  `CREATE SCHEMA IF NOT EXISTS security;
   CREATE TABLE security.alerts (
     id bigserial PRIMARY KEY,
     rule text NOT NULL,
     source text NOT NULL,
     description text NOT NULL,
     threshold integer NOT NULL,
     window_sec integer NOT NULL,
     opened_at text NOT NULL,
     closed_at text,
     opened_count bigint NOT NULL,
     peak_count bigint NOT NULL,
     events bigint NOT NULL,
     last_seen_at text NOT NULL,
     delivery text
   );
   -- one open episode per rule, whichever cloud opens it
   CREATE UNIQUE INDEX alerts_one_open ON security.alerts (rule) WHERE closed_at IS NULL;`,
];

/** Security alerts in PostgreSQL (schema `security`), for several clouds on one database: the
 * partial unique index lets one INSERT open a rule's alert and the others do nothing, and the
 * conditional UPDATE lets one close it, so the operators are told once either way. */
export class PgSecurityAlertStore implements SecurityAlertStore {
  private constructor(private readonly db: PostgresDatabase) {}

  static async open(db: PostgresDatabase): Promise<PgSecurityAlertStore> {
    await db.migrate('security', MIGRATIONS);
    return new PgSecurityAlertStore(db);
  }

  async open(a: OpenAlert): Promise<SecurityAlert | undefined> {
    const r = await this.db.query<Row>('opening a security alert', `INSERT INTO security.alerts
      (rule, source, description, threshold, window_sec, opened_at, opened_count, peak_count, events, last_seen_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7, $6)
      ON CONFLICT (rule) WHERE closed_at IS NULL DO NOTHING RETURNING *`,
    [a.rule, a.source, a.description, a.threshold, a.windowSec, a.at, a.count]);
    return r.rows[0] && toAlert(r.rows[0]);
  }

  async seen(id: number, at: string, count: number, added: number): Promise<void> {
    await this.db.query('updating a security alert', `UPDATE security.alerts SET events = events + $1, peak_count = GREATEST(peak_count, $2),
      last_seen_at = $3 WHERE id = $4 AND closed_at IS NULL`, [added, count, at, id]);
  }

  async close(id: number, at: string): Promise<SecurityAlert | undefined> {
    const r = await this.db.query<Row>('closing a security alert', 'UPDATE security.alerts SET closed_at = $1 WHERE id = $2 AND closed_at IS NULL RETURNING *', [at, id]);
    return r.rows[0] && toAlert(r.rows[0]);
  }

  async addDelivery(id: number, delivery: string): Promise<void> {
    await this.db.query('recording a security alert\'s delivery',
      "UPDATE security.alerts SET delivery = substr(COALESCE(delivery || ' | ', '') || $1, 1, 4000) WHERE id = $2", [delivery.slice(0, 2000), id]);
  }

  async get(id: number): Promise<SecurityAlert | undefined> {
    const r = await this.db.query<Row>('reading a security alert', 'SELECT * FROM security.alerts WHERE id = $1', [id]);
    return r.rows[0] && toAlert(r.rows[0]);
  }

  async openByRule(): Promise<Map<string, number>> {
    const r = await this.db.query<{ id: number; rule: string }>('listing open security alerts', 'SELECT id, rule FROM security.alerts WHERE closed_at IS NULL');
    return new Map(r.rows.map((x) => [x.rule, x.id]));
  }

  async list(o: { open?: boolean; limit: number; beforeId?: number }): Promise<SecurityAlert[]> {
    const r = await this.db.query<Row>('listing security alerts', `SELECT * FROM security.alerts
      WHERE ($1::boolean IS NOT TRUE OR closed_at IS NULL) AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3`,
    [o.open === true, o.beforeId ?? null, o.limit]);
    return r.rows.map(toAlert);
  }

  /** The pool is the cloud's, closed by whoever opened it. */
  async dispose(): Promise<void> {}
}
