import type { Logger } from 'pino';
import type { DbTarget } from '../db/target.js';
import type { PostgresDatabase } from '../db/postgres.js';
import { SqliteComplaintsStore, type AuditRow, type ComplaintKind, type ComplaintRow, type ComplaintsStore } from './complaints-store.js';

/**
 * The complaints in PostgreSQL, schema `complaints` (the counterpart of complaints.sqlite).
 * The contact is stored as the AES-GCM ciphertext the service made (bytea); the key stays
 * in its file on each cloud and never enters the database (only a check value of it,
 * `key_check`, so a cloud started with another key file is refused).
 *
 * Closing erases the contact for real: the UPDATE that closes it sets the ciphertext to
 * NULL, and a VACUUM of the table right after removes the old row version PostgreSQL
 * keeps for its MVCC (until then the bytes stay in the table file). What VACUUM cannot
 * reach is documented in docs/deploy.md: WAL not yet recycled and backups taken earlier —
 * ciphertext only, useless without the key file.
 *
 * Several clouds on one database: the per-address budget is one table, counted and
 * written under a per-address advisory lock, so N clouds together still take at most
 * `max` per window from one address; closing is a conditional UPDATE (closed once,
 * audited once), in one transaction with its audit row.
 */
export const MIGRATIONS = [
  `CREATE SCHEMA IF NOT EXISTS complaints;
   CREATE TABLE complaints.complaints (
     id text PRIMARY KEY,
     receipt_hash text NOT NULL UNIQUE,
     site text NOT NULL,
     kind text NOT NULL,
     created_at bigint NOT NULL,
     status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
     closed_at bigint,
     resolution text,
     contact_enc bytea,
     evidence jsonb NOT NULL
   );
   CREATE INDEX complaints_status ON complaints.complaints (status, created_at);
   CREATE INDEX complaints_site ON complaints.complaints (site, created_at);
   CREATE TABLE complaints.audit (
     seq bigserial PRIMARY KEY,
     at bigint NOT NULL,
     actor text NOT NULL,
     action text NOT NULL,
     complaint_id text NOT NULL,
     detail text NOT NULL DEFAULT ''
   );
   CREATE INDEX audit_complaint ON complaints.audit (complaint_id, seq);
   CREATE TABLE complaints.submissions (address_key text NOT NULL, at bigint NOT NULL);
   CREATE INDEX submissions_key ON complaints.submissions (address_key, at);
   CREATE INDEX submissions_at ON complaints.submissions (at);
   CREATE TABLE complaints.key_check (id integer PRIMARY KEY CHECK (id = 1), value text NOT NULL);
   CREATE TABLE complaints.pow_used (challenge_hash text PRIMARY KEY, expires_at bigint NOT NULL);`,
];

interface Raw {
  id: string; receipt_hash: string; site: string; kind: ComplaintKind; created_at: number; status: 'open' | 'closed';
  closed_at: number | null; resolution: string | null; contact_enc: Buffer | null; evidence: unknown;
}
// evidence is jsonb: handed back as the JSON text the service stored, as SQLite does.
const row = (r: Raw): ComplaintRow => ({
  id: r.id, receiptHash: r.receipt_hash, site: r.site, kind: r.kind, createdAt: r.created_at, status: r.status,
  closedAt: r.closed_at, resolution: r.resolution, contactEnc: r.contact_enc, evidence: JSON.stringify(r.evidence),
});

export class PgComplaintsStore implements ComplaintsStore {
  constructor(private readonly db: PostgresDatabase, private readonly log: Logger) {}

  async insert(c: ComplaintRow): Promise<void> {
    await this.db.query('storing a complaint', `INSERT INTO complaints.complaints (id, receipt_hash, site, kind, created_at, status, contact_enc, evidence)
      VALUES ($1, $2, $3, $4, $5, 'open', $6, $7)`, [c.id, c.receiptHash, c.site, c.kind, c.createdAt, c.contactEnc, c.evidence]);
  }

  async get(id: string): Promise<ComplaintRow | undefined> {
    const r = await this.db.query<Raw>('reading a complaint', 'SELECT * FROM complaints.complaints WHERE id = $1', [id]);
    return r.rows[0] && row(r.rows[0]);
  }

  async byReceipt(hash: string): Promise<ComplaintRow | undefined> {
    const r = await this.db.query<Raw>('reading a complaint', 'SELECT * FROM complaints.complaints WHERE receipt_hash = $1', [hash]);
    return r.rows[0] && row(r.rows[0]);
  }

  async list(q: { status?: 'open' | 'closed'; site?: string; limit: number; offset: number }): Promise<ComplaintRow[]> {
    const r = await this.db.query<Raw>('listing complaints', `SELECT * FROM complaints.complaints
      WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR site = $2)
      ORDER BY created_at DESC, id LIMIT $3 OFFSET $4`, [q.status ?? null, q.site ?? null, q.limit, q.offset]);
    return r.rows.map(row);
  }

  async close(id: string, at: number, resolution: string, audit: Omit<AuditRow, 'complaintId' | 'at'>): Promise<boolean> {
    const closed = await this.db.tx('closing a complaint', async (sql) => {
      const r = await sql.query(`UPDATE complaints.complaints SET status = 'closed', closed_at = $1, resolution = $2, contact_enc = NULL
        WHERE id = $3 AND status = 'open'`, [at, resolution, id]);
      if (r.rowCount !== 1) return false;
      await sql.query('INSERT INTO complaints.audit (at, actor, action, complaint_id, detail) VALUES ($1, $2, $3, $4, $5)',
        [at, audit.actor, audit.action, id, audit.detail]);
      return true;
    });
    if (closed) {
      // Outside the transaction (VACUUM cannot run in one). Best effort: a snapshot still
      // open elsewhere keeps the old version until the next VACUUM (autovacuum's included).
      await this.db.query('erasing closed contacts', 'VACUUM complaints.complaints')
        .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'complaints: VACUUM after close failed; autovacuum erases the old contact later'));
    }
    return closed;
  }

  async audit(a: AuditRow): Promise<void> {
    await this.db.query('auditing', 'INSERT INTO complaints.audit (at, actor, action, complaint_id, detail) VALUES ($1, $2, $3, $4, $5)',
      [a.at, a.actor, a.action, a.complaintId, a.detail]);
  }

  async auditOf(id: string): Promise<AuditRow[]> {
    const r = await this.db.query<AuditRow>('reading the complaint audit',
      'SELECT at, actor, action, complaint_id AS "complaintId", detail FROM complaints.audit WHERE complaint_id = $1 ORDER BY seq', [id]);
    return r.rows;
  }

  async counts(fromMs: number): Promise<{ site: string; kind: ComplaintKind; open: number; closed: number }[]> {
    const r = await this.db.query<{ site: string; kind: ComplaintKind; open: number; closed: number }>('counting complaints',
      `SELECT site, kind, COUNT(*) FILTER (WHERE status = 'open')::int AS open, COUNT(*) FILTER (WHERE status = 'closed')::int AS closed
       FROM complaints.complaints WHERE created_at >= $1 GROUP BY site, kind ORDER BY site, kind`, [fromMs]);
    return r.rows;
  }

  async takeSubmission(addressKey: string, at: number, windowMs: number, max: number): Promise<number> {
    const wait = await this.db.tx('counting a complaint submission', async (sql) => {
      // One address at a time across every cloud: count and insert cannot interleave.
      await sql.query("SELECT pg_advisory_xact_lock(hashtext('complaints.submissions'), hashtext($1))", [addressKey]);
      await sql.query('DELETE FROM complaints.submissions WHERE address_key = $1 AND at <= $2', [addressKey, at - windowMs]);
      const r = await sql.query<{ n: number; oldest: number | null }>(
        'SELECT COUNT(*)::int AS n, MIN(at) AS oldest FROM complaints.submissions WHERE address_key = $1', [addressKey]);
      const { n, oldest } = r.rows[0] as { n: number; oldest: number | null };
      if (n >= max) return Math.max(1, (oldest ?? at) + windowMs - at);
      await sql.query('INSERT INTO complaints.submissions (address_key, at) VALUES ($1, $2)', [addressKey, at]);
      return 0;
    });
    // Other addresses' expired entries: outside the lock, best effort (they are never counted).
    await this.db.query('pruning complaint submissions', 'DELETE FROM complaints.submissions WHERE at <= $1', [at - windowMs]).catch(() => undefined);
    return wait;
  }

  async redeemChallenge(challengeHash: string, expiresAt: number, now: number): Promise<boolean> {
    await this.db.query('pruning used challenges', 'DELETE FROM complaints.pow_used WHERE expires_at < $1', [now]).catch(() => undefined);
    // The primary key decides: of two clouds redeeming one challenge, one inserts.
    const r = await this.db.query('redeeming a challenge', 'INSERT INTO complaints.pow_used (challenge_hash, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING',
      [challengeHash, expiresAt]);
    return r.rowCount === 1;
  }

  async keyCheck(value: string): Promise<string> {
    await this.db.query('checking the contact key', 'INSERT INTO complaints.key_check (id, value) VALUES (1, $1) ON CONFLICT (id) DO NOTHING', [value]);
    const r = await this.db.query<{ value: string }>('checking the contact key', 'SELECT value FROM complaints.key_check WHERE id = 1');
    return (r.rows[0] as { value: string }).value;
  }

  /** The pool is the cloud's, closed by start.ts. */
  async shutdown(): Promise<void> {}
}

/** The complaints store on `target`: its SQLite file, or the `complaints` schema. */
export async function openComplaintsStore(target: DbTarget, log: Logger): Promise<ComplaintsStore> {
  if (target.kind === 'sqlite') return new SqliteComplaintsStore(target.file);
  await target.db.migrate('complaints', MIGRATIONS);
  return new PgComplaintsStore(target.db, log);
}
