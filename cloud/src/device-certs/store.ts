import type Database from 'better-sqlite3';
import { openMigratedDb, wrapDb } from '../repositories/sqlite.js';

export interface DeviceCertRecord {
  fingerprint: string;
  deviceId: string;
  serial: string;
  notAfter: string;
  issuedAt: string;
  revokedAt: string | null;
}

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
];

interface Row { fingerprint: string; device_id: string; serial: string; not_after: string; issued_at: string; revoked_at: string | null }

const toRecord = (r: Row): DeviceCertRecord => ({ fingerprint: r.fingerprint, deviceId: r.device_id, serial: r.serial, notAfter: r.not_after, issuedAt: r.issued_at, revokedAt: r.revoked_at });

/**
 * Device certificates the cloud issued (`<data>/cloud/device-certs.sqlite`): a device whose
 * row is unrevoked logs in by certificate (the registry "says which"), and revoked rows are
 * the revocation list. Fingerprints: SHA-256 of the DER, lower-case hex.
 */
export class DeviceCertStore {
  readonly #db: Database.Database;
  constructor(file: string) {
    this.#db = openMigratedDb(file, MIGRATIONS, 'device certificates');
  }

  add(r: Omit<DeviceCertRecord, 'revokedAt'>): void {
    wrapDb('storing a device certificate', () =>
      this.#db.prepare('INSERT INTO device_certs (fingerprint, device_id, serial, not_after, issued_at) VALUES (?, ?, ?, ?, ?)')
        .run(r.fingerprint, r.deviceId, r.serial, r.notAfter, r.issuedAt));
  }

  /** The certificate, when it is this device's and not revoked. */
  active(deviceId: string, fingerprint: string): DeviceCertRecord | undefined {
    const row = wrapDb('reading a device certificate', () =>
      this.#db.prepare('SELECT * FROM device_certs WHERE fingerprint = ? AND device_id = ? AND revoked_at IS NULL').get(fingerprint, deviceId) as Row | undefined);
    return row && toRecord(row);
  }

  list(deviceId: string): DeviceCertRecord[] {
    return wrapDb('listing device certificates', () =>
      (this.#db.prepare('SELECT * FROM device_certs WHERE device_id = ? ORDER BY issued_at').all(deviceId) as Row[]).map(toRecord));
  }

  /** Revokes the device's unrevoked certificates (or one of them); returns what it revoked. */
  revoke(deviceId: string, at: string, fingerprint?: string): DeviceCertRecord[] {
    return wrapDb('revoking device certificates', () => this.#db.transaction(() => {
      const rows = (fingerprint === undefined
        ? this.#db.prepare('SELECT * FROM device_certs WHERE device_id = ? AND revoked_at IS NULL').all(deviceId)
        : this.#db.prepare('SELECT * FROM device_certs WHERE device_id = ? AND fingerprint = ? AND revoked_at IS NULL').all(deviceId, fingerprint)) as Row[];
      const upd = this.#db.prepare('UPDATE device_certs SET revoked_at = ? WHERE fingerprint = ?');
      for (const r of rows) upd.run(at, r.fingerprint);
      return rows.map((r) => ({ ...toRecord(r), revokedAt: at }));
    })());
  }

  /** Revoked fingerprints still within their validity: pushed to the broker again when the
   * link (re)connects. Expired ones are left out (the handshake refuses them anyway), so
   * the list does not grow for ever. */
  revokedFingerprints(now = new Date()): string[] {
    return wrapDb('listing revoked certificates', () =>
      (this.#db.prepare('SELECT fingerprint FROM device_certs WHERE revoked_at IS NOT NULL AND not_after > ?').all(now.toISOString()) as { fingerprint: string }[]).map((r) => r.fingerprint));
  }

  close(): void {
    this.#db.close();
  }
}
