import type Database from 'better-sqlite3';
import { openMigratedDb, wrapDb } from '../repositories/sqlite.js';

const MIGRATIONS = [`
  CREATE TABLE complaints (
    id TEXT PRIMARY KEY,
    receipt_hash TEXT NOT NULL UNIQUE,
    site TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    closed_at INTEGER,
    resolution TEXT,
    contact_enc BLOB,
    evidence TEXT NOT NULL
  );
  CREATE INDEX complaints_status ON complaints (status, created_at);
  CREATE INDEX complaints_site ON complaints (site, created_at);
  CREATE TABLE complaint_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    complaint_id TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
  );
`,
// The per-address budget (keyed hashes of addresses, never the addresses) and the check
// value of the contact key, so a cloud with another key file is refused, not mixed in.
`
  CREATE TABLE submissions (address_key TEXT NOT NULL, at INTEGER NOT NULL);
  CREATE INDEX submissions_key ON submissions (address_key, at);
  CREATE INDEX submissions_at ON submissions (at);
  CREATE TABLE key_check (id INTEGER PRIMARY KEY CHECK (id = 1), value TEXT NOT NULL);
  CREATE TABLE pow_used (challenge_hash TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
`];

export type ComplaintKind = 'smoke' | 'smell' | 'dust' | 'noise';
export const COMPLAINT_KINDS: readonly ComplaintKind[] = ['smoke', 'smell', 'dust', 'noise'];

export interface ComplaintRow {
  id: string;
  receiptHash: string;
  site: string;
  kind: ComplaintKind;
  createdAt: number;
  status: 'open' | 'closed';
  closedAt: number | null;
  resolution: string | null;
  contactEnc: Buffer | null;
  evidence: string;
}
export interface AuditRow { at: number; actor: string; action: string; complaintId: string; detail: string }

interface Raw {
  id: string; receipt_hash: string; site: string; kind: ComplaintKind; created_at: number; status: 'open' | 'closed';
  closed_at: number | null; resolution: string | null; contact_enc: Buffer | null; evidence: string;
}
const row = (r: Raw): ComplaintRow => ({
  id: r.id, receiptHash: r.receipt_hash, site: r.site, kind: r.kind, createdAt: r.created_at, status: r.status,
  closedAt: r.closed_at, resolution: r.resolution, contactEnc: r.contact_enc, evidence: r.evidence,
});

/**
 * The complaints, their evidence, the audit of every look at or change to one (operators
 * reading a contact above all) and the per-address submission budget: SQLite
 * (complaints.sqlite, below) or PostgreSQL (schema `complaints`, pg-complaints-store.ts).
 * Contacts arrive encrypted (complaints-service.ts); the key is never given to a store.
 */
export interface ComplaintsStore {
  insert(c: ComplaintRow): Promise<void>;
  get(id: string): Promise<ComplaintRow | undefined>;
  byReceipt(hash: string): Promise<ComplaintRow | undefined>;
  list(q: { status?: 'open' | 'closed'; site?: string; limit: number; offset: number }): Promise<ComplaintRow[]>;
  /** Closes an open complaint, erases its contact and audits it, at once; false when not open. */
  close(id: string, at: number, resolution: string, audit: Omit<AuditRow, 'complaintId' | 'at'>): Promise<boolean>;
  audit(a: AuditRow): Promise<void>;
  auditOf(id: string): Promise<AuditRow[]>;
  counts(fromMs: number): Promise<{ site: string; kind: ComplaintKind; open: number; closed: number }[]>;
  /**
   * Counts one submission of `addressKey` at `at` when fewer than `max` were counted in the
   * `windowMs` before; else counts nothing and returns the ms until one leaves the window.
   * Atomic per address, also across clouds sharing the database.
   */
  takeSubmission(addressKey: string, at: number, windowMs: number, max: number): Promise<number>;
  /** Marks a proof-of-work challenge used; false when it already was (expired marks are dropped). */
  redeemChallenge(challengeHash: string, expiresAt: number, now: number): Promise<boolean>;
  /** The stored check value of the contact key, set to `value` when there was none. */
  keyCheck(value: string): Promise<string>;
  shutdown(): Promise<void>;
}

/** complaints.sqlite. The better-sqlite3 calls stay synchronous inside; `secure_delete` so an
 * erased contact's bytes are overwritten, not left in a free page. */
export class SqliteComplaintsStore implements ComplaintsStore {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = openMigratedDb(file, MIGRATIONS, 'complaints');
    this.db.pragma('secure_delete = ON');
  }

  async insert(c: ComplaintRow): Promise<void> {
    wrapDb('storing a complaint', () => this.db.prepare(
      `INSERT INTO complaints (id, receipt_hash, site, kind, created_at, status, contact_enc, evidence) VALUES (?, ?, ?, ?, ?, 'open', ?, ?)`,
    ).run(c.id, c.receiptHash, c.site, c.kind, c.createdAt, c.contactEnc, c.evidence));
  }

  async get(id: string): Promise<ComplaintRow | undefined> {
    const r = this.db.prepare('SELECT * FROM complaints WHERE id = ?').get(id) as Raw | undefined;
    return r && row(r);
  }

  async byReceipt(hash: string): Promise<ComplaintRow | undefined> {
    const r = this.db.prepare('SELECT * FROM complaints WHERE receipt_hash = ?').get(hash) as Raw | undefined;
    return r && row(r);
  }

  async list(q: { status?: 'open' | 'closed'; site?: string; limit: number; offset: number }): Promise<ComplaintRow[]> {
    const rs = this.db.prepare(
      `SELECT * FROM complaints WHERE (@status IS NULL OR status = @status) AND (@site IS NULL OR site = @site)
       ORDER BY created_at DESC, id LIMIT @limit OFFSET @offset`,
    ).all({ status: q.status ?? null, site: q.site ?? null, limit: q.limit, offset: q.offset }) as Raw[];
    return rs.map(row);
  }

  async close(id: string, at: number, resolution: string, audit: Omit<AuditRow, 'complaintId' | 'at'>): Promise<boolean> {
    return wrapDb('closing a complaint', () => this.db.transaction(() => {
      const r = this.db.prepare(
        `UPDATE complaints SET status = 'closed', closed_at = ?, resolution = ?, contact_enc = NULL WHERE id = ? AND status = 'open'`,
      ).run(at, resolution, id);
      if (r.changes === 1) this.#audit({ ...audit, at, complaintId: id });
      return r.changes === 1;
    })());
  }

  async audit(a: AuditRow): Promise<void> {
    this.#audit(a);
  }

  #audit(a: AuditRow): void {
    wrapDb('auditing', () => this.db.prepare('INSERT INTO complaint_audit (at, actor, action, complaint_id, detail) VALUES (?, ?, ?, ?, ?)')
      .run(a.at, a.actor, a.action, a.complaintId, a.detail));
  }

  async auditOf(id: string): Promise<AuditRow[]> {
    return (this.db.prepare('SELECT at, actor, action, complaint_id AS complaintId, detail FROM complaint_audit WHERE complaint_id = ? ORDER BY seq')
      .all(id) as AuditRow[]);
  }

  async counts(fromMs: number): Promise<{ site: string; kind: ComplaintKind; open: number; closed: number }[]> {
    return this.db.prepare(
      `SELECT site, kind, SUM(status = 'open') AS open, SUM(status = 'closed') AS closed FROM complaints
       WHERE created_at >= ? GROUP BY site, kind ORDER BY site, kind`,
    ).all(fromMs) as { site: string; kind: ComplaintKind; open: number; closed: number }[];
  }

  async takeSubmission(addressKey: string, at: number, windowMs: number, max: number): Promise<number> {
    return wrapDb('counting a complaint submission', () => this.db.transaction(() => {
      this.db.prepare('DELETE FROM submissions WHERE at <= ?').run(at - windowMs);
      const r = this.db.prepare('SELECT COUNT(*) AS n, MIN(at) AS oldest FROM submissions WHERE address_key = ?').get(addressKey) as { n: number; oldest: number | null };
      if (r.n >= max) return Math.max(1, (r.oldest ?? at) + windowMs - at);
      this.db.prepare('INSERT INTO submissions (address_key, at) VALUES (?, ?)').run(addressKey, at);
      return 0;
    })());
  }

  async redeemChallenge(challengeHash: string, expiresAt: number, now: number): Promise<boolean> {
    return wrapDb('redeeming a challenge', () => {
      this.db.prepare('DELETE FROM pow_used WHERE expires_at < ?').run(now);
      return this.db.prepare('INSERT OR IGNORE INTO pow_used (challenge_hash, expires_at) VALUES (?, ?)').run(challengeHash, expiresAt).changes === 1;
    });
  }

  async keyCheck(value: string): Promise<string> {
    return wrapDb('checking the contact key', () => {
      this.db.prepare('INSERT OR IGNORE INTO key_check (id, value) VALUES (1, ?)').run(value);
      return (this.db.prepare('SELECT value FROM key_check WHERE id = 1').get() as { value: string }).value;
    });
  }

  async shutdown(): Promise<void> {
    this.db.close();
  }
}
