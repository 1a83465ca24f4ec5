import type { PostgresDatabase } from '../db/postgres.js';
import { toEvent, toRecord, type ClaimEvent, type ClaimRecord, type ClaimStore, type ClaimUse, type EventRow, type Reservation, type Row } from './store.js';

/** ISO-8601 UTC times stay text, as in SQLite: they compare as strings in both. */
const MIGRATIONS: readonly string[] = [
  `CREATE SCHEMA IF NOT EXISTS claims;
   CREATE TABLE claims.claims (
     id text PRIMARY KEY,
     kind text NOT NULL,
     site text NOT NULL,
     max_count integer NOT NULL CHECK (max_count > 0),
     used_count integer NOT NULL DEFAULT 0,
     expires_at text NOT NULL,
     revoked_at text,
     secret_hash text NOT NULL,
     description text,
     created_at text NOT NULL,
     CHECK (used_count <= max_count)
   );
   CREATE TABLE claims.claim_uses (
     claim_id text NOT NULL REFERENCES claims.claims (id),
     serial text NOT NULL,
     device_id text NOT NULL,
     via text NOT NULL,
     used_at text NOT NULL,
     PRIMARY KEY (claim_id, serial)
   );
   CREATE TABLE claims.claim_events (
     id bigserial PRIMARY KEY,
     at text NOT NULL,
     claim_id text NOT NULL,
     actor text NOT NULL,
     action text NOT NULL,
     serial text,
     detail text
   );
   CREATE INDEX claim_events_by_claim ON claims.claim_events (claim_id, id);
   CREATE INDEX claim_events_by_action ON claims.claim_events (action, id);`,
];

/**
 * Claims in PostgreSQL (schema `claims`), for several clouds on one database. The slot
 * count is taken under the claim row's lock (SELECT … FOR UPDATE), so exchanges racing for
 * the last slot on different clouds queue on it and exactly one wins; the (claim, serial)
 * key refuses a serial's second use even if two of its exchanges arrive at once.
 */
export class PgClaimStore implements ClaimStore {
  private constructor(private readonly db: PostgresDatabase) {}

  static async open(db: PostgresDatabase): Promise<PgClaimStore> {
    await db.migrate('claims', MIGRATIONS);
    return new PgClaimStore(db);
  }

  async insert(r: ClaimRecord, secretHash: string): Promise<boolean> {
    const res = await this.db.query('creating a claim', `INSERT INTO claims.claims
      (id, kind, site, max_count, used_count, expires_at, revoked_at, secret_hash, description, created_at)
      VALUES ($1, $2, $3, $4, 0, $5, NULL, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
    [r.id, r.kind, r.site, r.maxCount, r.expiresAt, secretHash, r.description, r.createdAt]);
    return res.rowCount === 1;
  }

  async get(id: string): Promise<ClaimRecord | undefined> {
    const row = (await this.db.query<Row>('reading a claim', 'SELECT * FROM claims.claims WHERE id = $1', [id])).rows[0];
    return row && toRecord(row);
  }

  async withHash(id: string): Promise<{ record: ClaimRecord; hash: string } | undefined> {
    const row = (await this.db.query<Row>('reading a claim', 'SELECT * FROM claims.claims WHERE id = $1', [id])).rows[0];
    return row && { record: toRecord(row), hash: row.secret_hash };
  }

  async list(): Promise<ClaimRecord[]> {
    return (await this.db.query<Row>('listing claims', 'SELECT * FROM claims.claims ORDER BY id')).rows.map(toRecord);
  }

  async revoke(id: string, at: string): Promise<ClaimRecord | undefined> {
    const row = (await this.db.query<Row>('revoking a claim',
      'UPDATE claims.claims SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 RETURNING *', [at, id])).rows[0];
    return row && toRecord(row);
  }

  reserve(claimId: string, serial: string, deviceId: string, via: string, now: string): Promise<Reservation> {
    return this.db.tx('using a claim', async (sql): Promise<Reservation> => {
      // The row lock queues every other exchange of this claim (on any cloud) behind us.
      const row = (await sql.query<Row>('SELECT * FROM claims.claims WHERE id = $1 FOR UPDATE', [claimId])).rows[0];
      if (!row) return { ok: false, reason: 'bad-credentials', claim: undefined };
      const claim = toRecord(row);
      if (claim.revokedAt !== null) return { ok: false, reason: 'revoked', claim };
      if (claim.expiresAt <= now) return { ok: false, reason: 'expired', claim };
      if ((await sql.query('SELECT 1 FROM claims.claim_uses WHERE claim_id = $1 AND serial = $2', [claimId, serial])).rowCount) {
        return { ok: false, reason: 'serial-used', claim };
      }
      if (claim.usedCount >= claim.maxCount) return { ok: false, reason: 'exhausted', claim };
      await sql.query('INSERT INTO claims.claim_uses (claim_id, serial, device_id, via, used_at) VALUES ($1, $2, $3, $4, $5)', [claimId, serial, deviceId, via, now]);
      await sql.query('UPDATE claims.claims SET used_count = used_count + 1 WHERE id = $1', [claimId]);
      return { ok: true, claim: { ...claim, usedCount: claim.usedCount + 1 } };
    });
  }

  async release(claimId: string, serial: string): Promise<void> {
    await this.db.tx('releasing a claim use', async (sql) => {
      const del = await sql.query('DELETE FROM claims.claim_uses WHERE claim_id = $1 AND serial = $2', [claimId, serial]);
      if (del.rowCount === 1) await sql.query('UPDATE claims.claims SET used_count = used_count - 1 WHERE id = $1', [claimId]);
    });
  }

  async used(claimId: string, serial: string): Promise<boolean> {
    return ((await this.db.query('reading a claim use', 'SELECT 1 FROM claims.claim_uses WHERE claim_id = $1 AND serial = $2', [claimId, serial])).rowCount ?? 0) > 0;
  }

  async uses(claimId: string): Promise<ClaimUse[]> {
    return (await this.db.query<ClaimUse>('listing claim uses', `SELECT serial, device_id AS "deviceId", via, used_at AS "usedAt"
      FROM claims.claim_uses WHERE claim_id = $1 ORDER BY used_at, serial`, [claimId])).rows;
  }

  async event(at: string, claimId: string, actor: string, action: string, serial: string | null, detail: string | null): Promise<void> {
    await this.db.query('writing the claim audit', 'INSERT INTO claims.claim_events (at, claim_id, actor, action, serial, detail) VALUES ($1, $2, $3, $4, $5, $6)',
      [at, claimId, actor, action, serial, detail]);
  }

  async events(q: { claimId?: string; action?: string; limit: number }): Promise<ClaimEvent[]> {
    // Fixed SQL with optional filters: a null parameter matches every row.
    return (await this.db.query<EventRow>('reading the claim audit', `SELECT * FROM claims.claim_events
      WHERE ($1::text IS NULL OR claim_id = $1) AND ($2::text IS NULL OR action = $2) ORDER BY id DESC LIMIT $3`,
    [q.claimId ?? null, q.action ?? null, q.limit])).rows.map(toEvent);
  }

  /** The pool is the cloud's, closed by whoever opened it. */
  async close(): Promise<void> {}
}
