import type { PostgresDatabase } from '../../db/postgres.js';
import type { AuditEntry, AuditLog } from '../contracts.js';
import type { AuditQuery, AuditRecord } from './records.js';
import type { PeopleAuditLog } from './stores.js';

const MAX_PURPOSE = 200;
const MAX_DETAIL = 1000;

const values = (e: AuditEntry, at: number): unknown[] =>
  [at, e.actor, e.action, e.residentId, e.purpose.slice(0, MAX_PURPOSE), e.detail === undefined ? null : e.detail.slice(0, MAX_DETAIL)];

/** Append-only log of reads of residents' data, in PostgreSQL (schema `people`). */
export class PgAuditLog implements AuditLog, PeopleAuditLog {
  constructor(private readonly db: PostgresDatabase, private readonly now: () => number) {}

  async record(e: AuditEntry): Promise<void> {
    await this.db.query('writing the audit log',
      'INSERT INTO people.audit (at_ms, actor, action, resident_id, purpose, detail) VALUES ($1, $2, $3, $4, $5, $6)', values(e, this.now()));
  }

  /** Several rows, all or none. */
  async recordMany(entries: readonly AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const at = this.now();
    await this.db.tx('writing the audit log', async (sql) => {
      for (const e of entries) {
        await sql.query('INSERT INTO people.audit (at_ms, actor, action, resident_id, purpose, detail) VALUES ($1, $2, $3, $4, $5, $6)', values(e, at));
      }
    });
  }

  /** Retention: as on SQLite, rows older than `cutoffMs` among the `limit` oldest by id. */
  async pruneOldest(cutoffMs: number, limit: number): Promise<number> {
    const res = await this.db.query('pruning the audit log',
      'DELETE FROM people.audit WHERE id IN (SELECT id FROM people.audit ORDER BY id LIMIT $1) AND at_ms < $2', [limit, cutoffMs]);
    return res.rowCount ?? 0;
  }

  async query(q: AuditQuery): Promise<AuditRecord[]> {
    const res = await this.db.query<AuditRecord>('reading the audit log',
      `SELECT id, at_ms AS "atMs", actor, action, resident_id AS "residentId", purpose, detail FROM people.audit
       WHERE ($1::text IS NULL OR resident_id = $1) AND ($2::text IS NULL OR actor = $2) AND ($3::bigint IS NULL OR id < $3)
       ORDER BY id DESC LIMIT $4`, [q.residentId ?? null, q.actor ?? null, q.beforeId ?? null, q.limit]);
    return res.rows;
  }
}
