import type Database from 'better-sqlite3';
import type { ClaimRefusal, KindSlug } from '@yulan/protos';
import { openMigratedDb, wrapDb } from '../repositories/sqlite.js';
import { settle } from '../db/settle.js';

export interface ClaimRecord {
  id: string;
  kind: KindSlug;
  site: string;
  /** how many devices may exchange it */
  maxCount: number;
  /** how many have (rows in claim_uses) */
  usedCount: number;
  expiresAt: string;
  revokedAt: string | null;
  description: string | null;
  createdAt: string;
}

export interface ClaimUse {
  serial: string;
  deviceId: string;
  via: string;
  usedAt: string;
}

export interface ClaimEvent {
  id: number;
  at: string;
  claimId: string;
  actor: string;
  action: string;
  serial: string | null;
  detail: string | null;
}

const MIGRATIONS = [
  `CREATE TABLE claims (
     id TEXT PRIMARY KEY,
     kind TEXT NOT NULL,
     site TEXT NOT NULL,
     max_count INTEGER NOT NULL CHECK (max_count > 0),
     used_count INTEGER NOT NULL DEFAULT 0,
     expires_at TEXT NOT NULL,
     revoked_at TEXT,
     secret_hash TEXT NOT NULL,
     description TEXT,
     created_at TEXT NOT NULL,
     CHECK (used_count <= max_count)
   );
   CREATE TABLE claim_uses (
     claim_id TEXT NOT NULL,
     serial TEXT NOT NULL,
     device_id TEXT NOT NULL,
     via TEXT NOT NULL,
     used_at TEXT NOT NULL,
     PRIMARY KEY (claim_id, serial)
   );
   CREATE TABLE claim_events (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at TEXT NOT NULL,
     claim_id TEXT NOT NULL,
     actor TEXT NOT NULL,
     action TEXT NOT NULL,
     serial TEXT,
     detail TEXT
   );
   CREATE INDEX claim_events_by_claim ON claim_events (claim_id, id);
   CREATE INDEX claim_events_by_action ON claim_events (action, id);`,
];

export interface Row {
  id: string; kind: string; site: string; max_count: number; used_count: number; expires_at: string; revoked_at: string | null;
  secret_hash: string; description: string | null; created_at: string;
}
export const toRecord = (r: Row): ClaimRecord => ({
  id: r.id, kind: r.kind as KindSlug, site: r.site, maxCount: r.max_count, usedCount: r.used_count, expiresAt: r.expires_at,
  revokedAt: r.revoked_at, description: r.description, createdAt: r.created_at,
});
export interface EventRow { id: number; at: string; claim_id: string; actor: string; action: string; serial: string | null; detail: string | null }
export const toEvent = (r: EventRow): ClaimEvent => ({ id: r.id, at: r.at, claimId: r.claim_id, actor: r.actor, action: r.action, serial: r.serial, detail: r.detail });

export type Reservation = { ok: true; claim: ClaimRecord } | { ok: false; reason: ClaimRefusal; claim: ClaimRecord | undefined };

/**
 * Claims, their uses and their audit trail: `<dataDir>/claims.sqlite` (SqliteClaimStore) or
 * the `claims` schema in PostgreSQL (PgClaimStore, several clouds at once). Contract:
 * cloud/test/claim-store-contract.test.ts.
 */
export interface ClaimStore {
  /** false when the id is taken */
  insert(r: ClaimRecord, secretHash: string): Promise<boolean>;
  get(id: string): Promise<ClaimRecord | undefined>;
  withHash(id: string): Promise<{ record: ClaimRecord; hash: string } | undefined>;
  list(): Promise<ClaimRecord[]>;
  /** sets revoked_at once (a second revoke keeps the first time) */
  revoke(id: string, at: string): Promise<ClaimRecord | undefined>;
  /** Takes one slot for `serial`, or says why not: atomic, so two exchanges racing for the
   * last slot (on one cloud or two) cannot both get it, and a serial uses a claim once. */
  reserve(claimId: string, serial: string, deviceId: string, via: string, now: string): Promise<Reservation>;
  /** Gives a reserved slot back: the device could not be registered after all. */
  release(claimId: string, serial: string): Promise<void>;
  used(claimId: string, serial: string): Promise<boolean>;
  uses(claimId: string): Promise<ClaimUse[]>;
  event(at: string, claimId: string, actor: string, action: string, serial: string | null, detail: string | null): Promise<void>;
  /** Newest first; one claim's, or all claims' refusals (the operators' alert list). */
  events(q: { claimId?: string; action?: string; limit: number }): Promise<ClaimEvent[]>;
  close(): Promise<void>;
}

/**
 * `<dataDir>/claims.sqlite`: claims (secrets as scrypt hashes), which serials used them and
 * an audit trail that also holds every refusal. The use count lives here, written in the
 * same transaction as the use, so a restart can never hand a serial or a slot out twice.
 */
export class SqliteClaimStore implements ClaimStore {
  readonly #db: Database.Database;

  constructor(file: string) {
    this.#db = openMigratedDb(file, MIGRATIONS, 'claims');
  }

  insert(r: ClaimRecord, secretHash: string): Promise<boolean> { return settle(() => this.insertSync(r, secretHash)); }
  get(id: string): Promise<ClaimRecord | undefined> { return settle(() => this.getSync(id)); }
  withHash(id: string): Promise<{ record: ClaimRecord; hash: string } | undefined> { return settle(() => this.withHashSync(id)); }
  list(): Promise<ClaimRecord[]> { return settle(() => this.listSync()); }
  revoke(id: string, at: string): Promise<ClaimRecord | undefined> { return settle(() => this.revokeSync(id, at)); }
  reserve(claimId: string, serial: string, deviceId: string, via: string, now: string): Promise<Reservation> {
    return settle(() => this.reserveSync(claimId, serial, deviceId, via, now));
  }
  release(claimId: string, serial: string): Promise<void> { return settle(() => this.releaseSync(claimId, serial)); }
  used(claimId: string, serial: string): Promise<boolean> { return settle(() => this.usedSync(claimId, serial)); }
  uses(claimId: string): Promise<ClaimUse[]> { return settle(() => this.usesSync(claimId)); }
  event(at: string, claimId: string, actor: string, action: string, serial: string | null, detail: string | null): Promise<void> {
    return settle(() => this.eventSync(at, claimId, actor, action, serial, detail));
  }
  events(q: { claimId?: string; action?: string; limit: number }): Promise<ClaimEvent[]> { return settle(() => this.eventsSync(q)); }
  close(): Promise<void> { return settle(() => { if (this.#db.open) this.#db.close(); }); }

  private insertSync(r: ClaimRecord, secretHash: string): boolean {
    return wrapDb('creating a claim', () => this.#db.prepare(
      `INSERT OR IGNORE INTO claims (id, kind, site, max_count, used_count, expires_at, revoked_at, secret_hash, description, created_at)
       VALUES (?, ?, ?, ?, 0, ?, NULL, ?, ?, ?)`,
    ).run(r.id, r.kind, r.site, r.maxCount, r.expiresAt, secretHash, r.description, r.createdAt).changes === 1);
  }

  private getSync(id: string): ClaimRecord | undefined {
    const row = wrapDb('reading a claim', () => this.#db.prepare('SELECT * FROM claims WHERE id = ?').get(id) as Row | undefined);
    return row && toRecord(row);
  }

  private withHashSync(id: string): { record: ClaimRecord; hash: string } | undefined {
    const row = wrapDb('reading a claim', () => this.#db.prepare('SELECT * FROM claims WHERE id = ?').get(id) as Row | undefined);
    return row && { record: toRecord(row), hash: row.secret_hash };
  }

  private listSync(): ClaimRecord[] {
    return wrapDb('listing claims', () => (this.#db.prepare('SELECT * FROM claims ORDER BY id').all() as Row[]).map(toRecord));
  }

  private revokeSync(id: string, at: string): ClaimRecord | undefined {
    return wrapDb('revoking a claim', () => {
      this.#db.prepare('UPDATE claims SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?').run(at, id);
      return this.getSync(id);
    });
  }

  /** Takes one slot of the claim for `serial`, or says why not. One synchronous
   * transaction: two exchanges racing for the last slot cannot both get it. */
  private reserveSync(claimId: string, serial: string, deviceId: string, via: string, now: string): Reservation {
    return wrapDb('using a claim', () => this.#db.transaction((): Reservation => {
      const row = this.#db.prepare('SELECT * FROM claims WHERE id = ?').get(claimId) as Row | undefined;
      if (!row) return { ok: false, reason: 'bad-credentials', claim: undefined };
      const claim = toRecord(row);
      if (claim.revokedAt !== null) return { ok: false, reason: 'revoked', claim };
      if (claim.expiresAt <= now) return { ok: false, reason: 'expired', claim };
      if (this.#db.prepare('SELECT 1 FROM claim_uses WHERE claim_id = ? AND serial = ?').get(claimId, serial)) {
        return { ok: false, reason: 'serial-used', claim };
      }
      if (claim.usedCount >= claim.maxCount) return { ok: false, reason: 'exhausted', claim };
      this.#db.prepare('INSERT INTO claim_uses (claim_id, serial, device_id, via, used_at) VALUES (?, ?, ?, ?, ?)').run(claimId, serial, deviceId, via, now);
      this.#db.prepare('UPDATE claims SET used_count = used_count + 1 WHERE id = ?').run(claimId);
      return { ok: true, claim: { ...claim, usedCount: claim.usedCount + 1 } };
    })());
  }

  /** Gives a reserved slot back: the device could not be registered after all. */
  private releaseSync(claimId: string, serial: string): void {
    wrapDb('releasing a claim use', () => this.#db.transaction(() => {
      if (this.#db.prepare('DELETE FROM claim_uses WHERE claim_id = ? AND serial = ?').run(claimId, serial).changes === 1) {
        this.#db.prepare('UPDATE claims SET used_count = used_count - 1 WHERE id = ?').run(claimId);
      }
    })());
  }

  private usedSync(claimId: string, serial: string): boolean {
    return wrapDb('reading a claim use', () => this.#db.prepare('SELECT 1 FROM claim_uses WHERE claim_id = ? AND serial = ?').get(claimId, serial) !== undefined);
  }

  private usesSync(claimId: string): ClaimUse[] {
    return wrapDb('listing claim uses', () => (this.#db.prepare(
      'SELECT serial, device_id AS deviceId, via, used_at AS usedAt FROM claim_uses WHERE claim_id = ? ORDER BY used_at, serial',
    ).all(claimId) as ClaimUse[]));
  }

  private eventSync(at: string, claimId: string, actor: string, action: string, serial: string | null, detail: string | null): void {
    wrapDb('writing the claim audit', () => {
      this.#db.prepare('INSERT INTO claim_events (at, claim_id, actor, action, serial, detail) VALUES (?, ?, ?, ?, ?, ?)').run(at, claimId, actor, action, serial, detail);
    });
  }

  /** Newest first; one claim's, or all claims' refusals (the operators' alert list). */
  private eventsSync(q: { claimId?: string; action?: string; limit: number }): ClaimEvent[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.claimId !== undefined) { where.push('claim_id = ?'); args.push(q.claimId); }
    if (q.action !== undefined) { where.push('action = ?'); args.push(q.action); }
    const sql = `SELECT * FROM claim_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    return wrapDb('reading the claim audit', () => (this.#db.prepare(sql).all(...args, q.limit) as EventRow[]).map(toEvent));
  }
}
