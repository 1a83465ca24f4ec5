import { isUniqueViolation, type PostgresDatabase, type Sql } from '../db/postgres.js';
import { CloudError, CloudErrorCode } from '../errors.js';
import { toRecord, type DeviceCertRecord, type DeviceCertStore, type NewCert, type Row } from './store.js';

/** ISO-8601 UTC times stay text, as in SQLite, so both compare them the same way. */
const MIGRATIONS: readonly string[] = [
  `CREATE SCHEMA IF NOT EXISTS device_certs;
   CREATE TABLE device_certs.certs (
     fingerprint text PRIMARY KEY,
     device_id text NOT NULL,
     serial text NOT NULL UNIQUE,
     not_after text NOT NULL,
     issued_at text NOT NULL,
     revoked_at text,
     replaced_by text,
     retire_at text,
     retired_at text,
     first_used_at text
   );
   CREATE INDEX certs_by_device ON device_certs.certs (device_id);
   CREATE INDEX certs_by_successor ON device_certs.certs (replaced_by);`,
];

const USABLE = 'revoked_at IS NULL AND retired_at IS NULL AND (retire_at IS NULL OR retire_at > $NOW) AND not_after > $NOW';
const usable = (n: number): string => USABLE.replaceAll('$NOW', `$${n}`);

/**
 * Device certificates in PostgreSQL (schema `device_certs`). Every cloud reads the same
 * rows, so a revocation or a retirement made through one cloud is refused by the others
 * at the next login check. The serial number is a unique key: two clouds can never store
 * two certificates under one serial. Rotation and first use run in one transaction each,
 * the rows they change locked first, so two clouds rotating or logging in at once serialise.
 */
export class PgDeviceCertStore implements DeviceCertStore {
  private constructor(private readonly db: PostgresDatabase) {}

  static async open(db: PostgresDatabase): Promise<PgDeviceCertStore> {
    await db.migrate('device_certs', MIGRATIONS);
    return new PgDeviceCertStore(db);
  }

  async add(r: NewCert): Promise<void> {
    await this.db.tx('storing a device certificate', (sql) => insert(sql, r));
  }

  async active(deviceId: string, fingerprint: string, now = new Date()): Promise<DeviceCertRecord | undefined> {
    const row = (await this.db.query<Row>('reading a device certificate',
      `SELECT * FROM device_certs.certs WHERE fingerprint = $1 AND device_id = $2 AND ${usable(3)}`, [fingerprint, deviceId, now.toISOString()])).rows[0];
    return row && toRecord(row);
  }

  async usable(deviceId: string, now = new Date()): Promise<DeviceCertRecord[]> {
    return (await this.db.query<Row>('reading device certificates',
      `SELECT * FROM device_certs.certs WHERE device_id = $1 AND ${usable(2)}`, [deviceId, now.toISOString()])).rows.map(toRecord);
  }

  addSuccessor(next: NewCert, from: readonly string[], retireAt: string): Promise<string[]> {
    return this.db.tx('storing a rotated device certificate', async (sql) => {
      const olds = (await sql.query<Row>('SELECT * FROM device_certs.certs WHERE fingerprint = ANY($1) ORDER BY fingerprint FOR UPDATE', [[...from]])).rows;
      const revoked: string[] = [];
      for (const old of olds) {
        if (!old.replaced_by || from.includes(old.replaced_by)) continue;
        const r = await sql.query(`UPDATE device_certs.certs SET revoked_at = $1 WHERE fingerprint = $2 AND revoked_at IS NULL AND first_used_at IS NULL`,
          [next.issuedAt, old.replaced_by]);
        if ((r.rowCount ?? 0) > 0) revoked.push(old.replaced_by);
      }
      await insert(sql, next);
      // A second rotation never stretches the first one's grace.
      await sql.query(`UPDATE device_certs.certs SET replaced_by = $1,
        retire_at = CASE WHEN retire_at IS NULL OR retire_at > $2 THEN $2 ELSE retire_at END
        WHERE fingerprint = ANY($3) AND revoked_at IS NULL`, [next.fingerprint, retireAt, [...from]]);
      return revoked;
    });
  }

  markUsed(fingerprint: string, now = new Date()): Promise<string[]> {
    const at = now.toISOString();
    return this.db.tx('recording a certificate login', async (sql) => {
      // Conditional: of two clouds seeing the first login at once, one records it.
      const first = await sql.query('UPDATE device_certs.certs SET first_used_at = $1 WHERE fingerprint = $2 AND first_used_at IS NULL', [at, fingerprint]);
      if (first.rowCount === 0) return [];
      const rows = await sql.query<{ fingerprint: string }>(`UPDATE device_certs.certs SET retired_at = $1
        WHERE replaced_by = $2 AND retired_at IS NULL AND revoked_at IS NULL RETURNING fingerprint`, [at, fingerprint]);
      return rows.rows.map((r) => r.fingerprint).sort();
    });
  }

  async list(deviceId: string): Promise<DeviceCertRecord[]> {
    return (await this.db.query<Row>('listing device certificates',
      'SELECT * FROM device_certs.certs WHERE device_id = $1 ORDER BY issued_at, fingerprint', [deviceId])).rows.map(toRecord);
  }

  async revoke(deviceId: string, at: string, fingerprint?: string): Promise<DeviceCertRecord[]> {
    // One statement: what it returns is exactly what it revoked, never a row another cloud revoked first.
    const rows = await this.db.query<Row>('revoking device certificates', `UPDATE device_certs.certs SET revoked_at = $1
      WHERE device_id = $2 AND ($3::text IS NULL OR fingerprint = $3) AND revoked_at IS NULL RETURNING *`, [at, deviceId, fingerprint ?? null]);
    return rows.rows.map(toRecord).sort((a, b) => a.issuedAt.localeCompare(b.issuedAt));
  }

  async retireDue(now = new Date()): Promise<string[]> {
    const rows = await this.db.query<{ fingerprint: string }>('retiring rotated certificates', `UPDATE device_certs.certs SET retired_at = retire_at
      WHERE retire_at <= $1 AND retired_at IS NULL AND revoked_at IS NULL RETURNING fingerprint`, [now.toISOString()]);
    return rows.rows.map((r) => r.fingerprint);
  }

  async revokedFingerprints(now = new Date()): Promise<string[]> {
    return (await this.db.query<{ fingerprint: string }>('listing revoked certificates',
      'SELECT fingerprint FROM device_certs.certs WHERE (revoked_at IS NOT NULL OR retired_at IS NOT NULL) AND not_after > $1', [now.toISOString()])).rows.map((r) => r.fingerprint);
  }

  /** The pool is the cloud's, closed by whoever opened it. */
  async close(): Promise<void> {}
}

async function insert(sql: Sql, r: NewCert): Promise<void> {
  try {
    await sql.query('INSERT INTO device_certs.certs (fingerprint, device_id, serial, not_after, issued_at) VALUES ($1, $2, $3, $4, $5)',
      [r.fingerprint, r.deviceId, r.serial, r.notAfter, r.issuedAt]);
  } catch (err) {
    if (isUniqueViolation(err)) {
      throw new CloudError(CloudErrorCode.Duplicate, `a certificate with fingerprint ${r.fingerprint} or serial number ${r.serial} is stored already`, { cause: err });
    }
    throw err;
  }
}
