import type { AuditEntry, AuditLog } from '../contracts.js';
import { wrap, type Db } from './db.js';
import type { AuditQuery, AuditRecord } from './records.js';

const MAX_PURPOSE = 200;
const MAX_DETAIL = 1000;

/** An audit row's values (at, actor, action, resident, purpose, detail), capped as stored. */
export function auditValues(e: AuditEntry, atMs: number): [number, string, string, string | null, string, string | null] {
  return [atMs, e.actor, e.action, e.residentId, e.purpose.slice(0, MAX_PURPOSE), e.detail === undefined ? null : e.detail.slice(0, MAX_DETAIL)];
}

/** Append-only log of reads of residents' health data (who, when, what, why). */
export class SqliteAuditLog implements AuditLog {
  private readonly stmts;

  constructor(
    private readonly db: Db,
    private readonly now: () => number,
  ) {
    this.stmts = {
      insert: db.prepare(
        'INSERT INTO audit (at_ms, actor, action, resident_id, purpose, detail) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      query: db.prepare(
        `SELECT id, at_ms AS atMs, actor, action, resident_id AS residentId, purpose, detail FROM audit
         WHERE (@residentId IS NULL OR resident_id = @residentId)
           AND (@actor IS NULL OR actor = @actor)
           AND (@beforeId IS NULL OR id < @beforeId)
         ORDER BY id DESC LIMIT @limit`,
      ),
    };
  }

  async record(e: AuditEntry): Promise<void> {
    this.recordSync(e);
  }

  /** Same as record(), for callers inside a synchronous transaction. */
  recordSync(e: AuditEntry): void {
    wrap('writing the audit log', () =>
      this.stmts.insert.run(
        this.now(),
        e.actor,
        e.action,
        e.residentId,
        e.purpose.slice(0, MAX_PURPOSE),
        e.detail === undefined ? null : e.detail.slice(0, MAX_DETAIL),
      ),
    );
  }

  /** Several rows, all or none. */
  async recordMany(entries: readonly AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    wrap('writing the audit log', () => this.db.transaction(() => { for (const e of entries) this.recordSync(e); })());
  }

  /**
   * Retention (docs/deploy.md): deletes rows older than `cutoffMs` among the `limit` oldest
   * by id. Rows are appended in time order, so this reads only the head of the table, never
   * scans it; a pass stops at the first batch that deletes nothing.
   */
  async pruneOldest(cutoffMs: number, limit: number): Promise<number> {
    return wrap('pruning the audit log', () => this.db.prepare(
      'DELETE FROM audit WHERE id IN (SELECT id FROM audit ORDER BY id LIMIT ?) AND at_ms < ?',
    ).run(limit, cutoffMs).changes);
  }

  /** Newest first. */
  async query(q: AuditQuery): Promise<AuditRecord[]> {
    return wrap('reading the audit log', () =>
      this.stmts.query.all({
        residentId: q.residentId ?? null,
        actor: q.actor ?? null,
        beforeId: q.beforeId ?? null,
        limit: q.limit,
      }) as AuditRecord[],
    );
  }
}
