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

/** complaints.sqlite: the complaints, their evidence, and the audit of every look at or
 * change to one (operators reading a contact above all). */
export class ComplaintsStore {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = openMigratedDb(file, MIGRATIONS, 'complaints');
  }

  insert(c: ComplaintRow): void {
    wrapDb('storing a complaint', () => this.db.prepare(
      `INSERT INTO complaints (id, receipt_hash, site, kind, created_at, status, contact_enc, evidence) VALUES (?, ?, ?, ?, ?, 'open', ?, ?)`,
    ).run(c.id, c.receiptHash, c.site, c.kind, c.createdAt, c.contactEnc, c.evidence));
  }

  get(id: string): ComplaintRow | undefined {
    const r = this.db.prepare('SELECT * FROM complaints WHERE id = ?').get(id) as Raw | undefined;
    return r && row(r);
  }

  byReceipt(hash: string): ComplaintRow | undefined {
    const r = this.db.prepare('SELECT * FROM complaints WHERE receipt_hash = ?').get(hash) as Raw | undefined;
    return r && row(r);
  }

  list(q: { status?: 'open' | 'closed'; site?: string; limit: number; offset: number }): ComplaintRow[] {
    const rs = this.db.prepare(
      `SELECT * FROM complaints WHERE (@status IS NULL OR status = @status) AND (@site IS NULL OR site = @site)
       ORDER BY created_at DESC, id LIMIT @limit OFFSET @offset`,
    ).all({ status: q.status ?? null, site: q.site ?? null, limit: q.limit, offset: q.offset }) as Raw[];
    return rs.map(row);
  }

  /** Closes an open complaint and forgets its contact; false when not open. */
  close(id: string, at: number, resolution: string, audit: Omit<AuditRow, 'complaintId' | 'at'>): boolean {
    return wrapDb('closing a complaint', () => this.db.transaction(() => {
      const r = this.db.prepare(
        `UPDATE complaints SET status = 'closed', closed_at = ?, resolution = ?, contact_enc = NULL WHERE id = ? AND status = 'open'`,
      ).run(at, resolution, id);
      if (r.changes === 1) this.audit({ ...audit, at, complaintId: id });
      return r.changes === 1;
    })());
  }

  audit(a: AuditRow): void {
    wrapDb('auditing', () => this.db.prepare('INSERT INTO complaint_audit (at, actor, action, complaint_id, detail) VALUES (?, ?, ?, ?, ?)')
      .run(a.at, a.actor, a.action, a.complaintId, a.detail));
  }

  auditOf(id: string): AuditRow[] {
    return (this.db.prepare('SELECT at, actor, action, complaint_id AS complaintId, detail FROM complaint_audit WHERE complaint_id = ? ORDER BY seq')
      .all(id) as AuditRow[]);
  }

  /** Counts per site and kind since `fromMs`: what open data may say about complaints. */
  counts(fromMs: number): { site: string; kind: ComplaintKind; open: number; closed: number }[] {
    return this.db.prepare(
      `SELECT site, kind, SUM(status = 'open') AS open, SUM(status = 'closed') AS closed FROM complaints
       WHERE created_at >= ? GROUP BY site, kind ORDER BY site, kind`,
    ).all(fromMs) as { site: string; kind: ComplaintKind; open: number; closed: number }[];
  }

  shutdown(): void {
    this.db.close();
  }
}
