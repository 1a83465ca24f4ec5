import type Database from 'better-sqlite3';
import { openMigratedDb, wrapDb } from '../repositories/sqlite.js';
import { settle } from '../db/settle.js';
import { CloudError, CloudErrorCode } from '../errors.js';

export interface DeviceCertRecord {
  fingerprint: string;
  deviceId: string;
  serial: string;
  notAfter: string;
  issuedAt: string;
  revokedAt: string | null;
  /** Rotation (rotation.ts): the certificate issued to replace this one. */
  replacedBy: string | null;
  /** Rotation: this one is refused from this instant even if its successor was never used. */
  retireAt: string | null;
  /** Rotation: retired when its successor was first used (or the grace ended). */
  retiredAt: string | null;
  firstUsedAt: string | null;
}

export type DeviceCertStatus = 'active' | 'retiring' | 'retired' | 'revoked' | 'expired';

/** What the registry lists: revoked, retired (rotated out), expired, retiring (a successor
 * is issued and not yet used) or active. */
export function certStatus(r: DeviceCertRecord, now = new Date()): DeviceCertStatus {
  const t = now.toISOString();
  if (r.revokedAt !== null) return 'revoked';
  if (r.retiredAt !== null || (r.retireAt !== null && r.retireAt <= t)) return 'retired';
  if (r.notAfter <= t) return 'expired';
  return r.replacedBy !== null ? 'retiring' : 'active';
}

/**
 * Issued device certificates: `<dataDir>/device-certs.sqlite` (SqliteDeviceCertStore) or the
 * `device_certs` schema in PostgreSQL (PgDeviceCertStore), where every cloud reads the same
 * rows, so a revocation made on one is refused by all. Contract: cloud/test/device-cert-store-contract.test.ts.
 */
export interface DeviceCertStore {
  /** Duplicate (CloudError) when the fingerprint or the serial number is stored already. */
  add(r: NewCert): Promise<void>;
  /** The certificate, when it is this device's, not revoked, not retired and not expired. */
  active(deviceId: string, fingerprint: string, now?: Date): Promise<DeviceCertRecord | undefined>;
  /** Every usable certificate of the device (what an operator's rotation replaces). */
  usable(deviceId: string, now?: Date): Promise<DeviceCertRecord[]>;
  addSuccessor(next: NewCert, from: readonly string[], retireAt: string): Promise<string[]>;
  markUsed(fingerprint: string, now?: Date): Promise<string[]>;
  list(deviceId: string): Promise<DeviceCertRecord[]>;
  revoke(deviceId: string, at: string, fingerprint?: string): Promise<DeviceCertRecord[]>;
  retireDue(now?: Date): Promise<string[]>;
  revokedFingerprints(now?: Date): Promise<string[]>;
  close(): Promise<void>;
}
export type NewCert = Pick<DeviceCertRecord, 'fingerprint' | 'deviceId' | 'serial' | 'notAfter' | 'issuedAt'>;

const MIGRATIONS = [
  `CREATE TABLE device_certs (
     fingerprint TEXT PRIMARY KEY,
     device_id TEXT NOT NULL,
     serial TEXT NOT NULL,
     not_after TEXT NOT NULL,
     issued_at TEXT NOT NULL,
     revoked_at TEXT
   );
   CREATE INDEX device_certs_by_device ON device_certs (device_id);`,
  `ALTER TABLE device_certs ADD COLUMN replaced_by TEXT;
   ALTER TABLE device_certs ADD COLUMN retire_at TEXT;
   ALTER TABLE device_certs ADD COLUMN retired_at TEXT;
   ALTER TABLE device_certs ADD COLUMN first_used_at TEXT;
   CREATE INDEX device_certs_by_successor ON device_certs (replaced_by);`,
];

export interface Row {
  fingerprint: string; device_id: string; serial: string; not_after: string; issued_at: string; revoked_at: string | null;
  replaced_by: string | null; retire_at: string | null; retired_at: string | null; first_used_at: string | null;
}

export const toRecord = (r: Row): DeviceCertRecord => ({
  fingerprint: r.fingerprint, deviceId: r.device_id, serial: r.serial, notAfter: r.not_after, issuedAt: r.issued_at, revokedAt: r.revoked_at,
  replacedBy: r.replaced_by, retireAt: r.retire_at, retiredAt: r.retired_at, firstUsedAt: r.first_used_at,
});

/** Usable for a login or a rotation: unrevoked, not rotated out, not expired. */
const USABLE = 'revoked_at IS NULL AND retired_at IS NULL AND (retire_at IS NULL OR retire_at > @now) AND not_after > @now';

/**
 * Device certificates the cloud issued (`<data>/cloud/device-certs.sqlite`): a device whose
 * row is unrevoked logs in by certificate (the registry "says which"), and revoked rows are
 * the revocation list. Fingerprints: SHA-256 of the DER, lower-case hex.
 */
export class SqliteDeviceCertStore implements DeviceCertStore {
  readonly #db: Database.Database;
  constructor(file: string) {
    this.#db = openMigratedDb(file, MIGRATIONS, 'device certificates');
  }

  add(r: NewCert): Promise<void> { return settle(() => this.addSync(r)); }
  active(deviceId: string, fingerprint: string, now = new Date()): Promise<DeviceCertRecord | undefined> { return settle(() => this.activeSync(deviceId, fingerprint, now)); }
  usable(deviceId: string, now = new Date()): Promise<DeviceCertRecord[]> { return settle(() => this.usableSync(deviceId, now)); }
  addSuccessor(next: NewCert, from: readonly string[], retireAt: string): Promise<string[]> { return settle(() => this.addSuccessorSync(next, from, retireAt)); }
  markUsed(fingerprint: string, now = new Date()): Promise<string[]> { return settle(() => this.markUsedSync(fingerprint, now)); }
  list(deviceId: string): Promise<DeviceCertRecord[]> { return settle(() => this.listSync(deviceId)); }
  revoke(deviceId: string, at: string, fingerprint?: string): Promise<DeviceCertRecord[]> { return settle(() => this.revokeSync(deviceId, at, fingerprint)); }
  retireDue(now = new Date()): Promise<string[]> { return settle(() => this.retireDueSync(now)); }
  revokedFingerprints(now = new Date()): Promise<string[]> { return settle(() => this.revokedFingerprintsSync(now)); }
  close(): Promise<void> { return settle(() => { if (this.#db.open) this.#db.close(); }); }

  private addSync(r: NewCert): void {
    wrapDb('storing a device certificate', () => {
      if (this.#db.prepare('SELECT 1 FROM device_certs WHERE fingerprint = ? OR serial = ?').get(r.fingerprint, r.serial)) {
        throw new CloudError(CloudErrorCode.Duplicate, `a certificate with fingerprint ${r.fingerprint} or serial number ${r.serial} is stored already`);
      }
      this.#db.prepare('INSERT INTO device_certs (fingerprint, device_id, serial, not_after, issued_at) VALUES (?, ?, ?, ?, ?)')
        .run(r.fingerprint, r.deviceId, r.serial, r.notAfter, r.issuedAt);
    });
  }

  /** The certificate, when it is this device's, not revoked, not retired and not expired. */
  private activeSync(deviceId: string, fingerprint: string, now = new Date()): DeviceCertRecord | undefined {
    const row = wrapDb('reading a device certificate', () =>
      this.#db.prepare(`SELECT * FROM device_certs WHERE fingerprint = @fp AND device_id = @id AND ${USABLE}`)
        .get({ fp: fingerprint, id: deviceId, now: now.toISOString() }) as Row | undefined);
    return row && toRecord(row);
  }

  /** Every usable certificate of the device (what an operator's rotation replaces). */
  private usableSync(deviceId: string, now = new Date()): DeviceCertRecord[] {
    return wrapDb('reading device certificates', () =>
      (this.#db.prepare(`SELECT * FROM device_certs WHERE device_id = @id AND ${USABLE}`).all({ id: deviceId, now: now.toISOString() }) as Row[]).map(toRecord));
  }

  /**
   * Rotation, in one transaction: stores `next` as the successor of each of `from`, which
   * stay usable until `next` is first used or `retireAt`. A successor issued before and
   * never used (the device lost the answer and asked again) is revoked: only the newest
   * request's certificate may take over. Returns the fingerprints it revoked so.
   */
  private addSuccessorSync(next: Pick<DeviceCertRecord, 'fingerprint' | 'deviceId' | 'serial' | 'notAfter' | 'issuedAt'>, from: readonly string[], retireAt: string): string[] {
    return wrapDb('storing a rotated device certificate', () => this.#db.transaction(() => {
      const revoked: string[] = [];
      const get = this.#db.prepare('SELECT * FROM device_certs WHERE fingerprint = ?');
      const revoke = this.#db.prepare('UPDATE device_certs SET revoked_at = ? WHERE fingerprint = ? AND revoked_at IS NULL AND first_used_at IS NULL');
      for (const fp of from) {
        const old = get.get(fp) as Row | undefined;
        if (old?.replaced_by && !from.includes(old.replaced_by) && revoke.run(next.issuedAt, old.replaced_by).changes > 0) revoked.push(old.replaced_by);
      }
      this.addSync(next);
      // A second rotation never stretches the first one's grace.
      const link = this.#db.prepare(`UPDATE device_certs SET replaced_by = @next,
        retire_at = CASE WHEN retire_at IS NULL OR retire_at > @at THEN @at ELSE retire_at END
        WHERE fingerprint = @fp AND revoked_at IS NULL`);
      for (const fp of from) link.run({ next: next.fingerprint, at: retireAt, fp });
      return revoked;
    })());
  }

  /** A successful login with this certificate: on its first one, the certificates it
   * replaced are retired. Returns the fingerprints retired now. */
  private markUsedSync(fingerprint: string, now = new Date()): string[] {
    const at = now.toISOString();
    return wrapDb('recording a certificate login', () => this.#db.transaction(() => {
      if (this.#db.prepare('UPDATE device_certs SET first_used_at = ? WHERE fingerprint = ? AND first_used_at IS NULL').run(at, fingerprint).changes === 0) return [];
      const rows = this.#db.prepare('SELECT fingerprint FROM device_certs WHERE replaced_by = ? AND retired_at IS NULL AND revoked_at IS NULL').all(fingerprint) as { fingerprint: string }[];
      const upd = this.#db.prepare('UPDATE device_certs SET retired_at = ? WHERE fingerprint = ?');
      for (const r of rows) upd.run(at, r.fingerprint);
      return rows.map((r) => r.fingerprint);
    })());
  }

  private listSync(deviceId: string): DeviceCertRecord[] {
    return wrapDb('listing device certificates', () =>
      (this.#db.prepare('SELECT * FROM device_certs WHERE device_id = ? ORDER BY issued_at').all(deviceId) as Row[]).map(toRecord));
  }

  /** Revokes the device's unrevoked certificates (or one of them); returns what it revoked. */
  private revokeSync(deviceId: string, at: string, fingerprint?: string): DeviceCertRecord[] {
    return wrapDb('revoking device certificates', () => this.#db.transaction(() => {
      const rows = (fingerprint === undefined
        ? this.#db.prepare('SELECT * FROM device_certs WHERE device_id = ? AND revoked_at IS NULL').all(deviceId)
        : this.#db.prepare('SELECT * FROM device_certs WHERE device_id = ? AND fingerprint = ? AND revoked_at IS NULL').all(deviceId, fingerprint)) as Row[];
      const upd = this.#db.prepare('UPDATE device_certs SET revoked_at = ? WHERE fingerprint = ?');
      for (const r of rows) upd.run(at, r.fingerprint);
      return rows.map((r) => ({ ...toRecord(r), revokedAt: at }));
    })());
  }

  /** Rotated certificates whose grace ended without their successor being used: marked
   * retired (at their `retireAt`); returns their fingerprints. */
  private retireDueSync(now = new Date()): string[] {
    return wrapDb('retiring rotated certificates', () => this.#db.transaction(() => {
      const rows = this.#db.prepare('SELECT fingerprint FROM device_certs WHERE retire_at <= ? AND retired_at IS NULL AND revoked_at IS NULL').all(now.toISOString()) as { fingerprint: string }[];
      const upd = this.#db.prepare('UPDATE device_certs SET retired_at = retire_at WHERE fingerprint = ?');
      for (const r of rows) upd.run(r.fingerprint);
      return rows.map((r) => r.fingerprint);
    })());
  }

  /** Revoked (and retired) fingerprints still within their validity: pushed to the broker again when the
   * link (re)connects. Expired ones are left out (the handshake refuses them anyway), so
   * the list does not grow for ever. */
  private revokedFingerprintsSync(now = new Date()): string[] {
    return wrapDb('listing revoked certificates', () =>
      (this.#db.prepare('SELECT fingerprint FROM device_certs WHERE (revoked_at IS NOT NULL OR retired_at IS NOT NULL) AND not_after > ?').all(now.toISOString()) as { fingerprint: string }[]).map((r) => r.fingerprint));
  }
}
