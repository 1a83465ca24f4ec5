import { randomUUID } from 'node:crypto';
import type { PostgresDatabase } from '../db/postgres.js';
import { toDiagnostics, type DiagnosticsRecord, type DiagnosticsRow, type DiagnosticsStore, type NewDiagnostics } from './diagnostics-store.js';

const MIGRATIONS: readonly string[] = [
  `CREATE SCHEMA IF NOT EXISTS ocpp_diagnostics;
   CREATE TABLE ocpp_diagnostics.files (
     id text PRIMARY KEY,
     device_id text NOT NULL,
     file_name text NOT NULL,
     bytes bigint NOT NULL,
     sha256 text NOT NULL,
     content_type text NOT NULL,
     command_id text NOT NULL,
     uploaded_at text NOT NULL,
     received_ms bigint NOT NULL,
     body bytea NOT NULL,
     UNIQUE (device_id, command_id, sha256)
   );
   CREATE INDEX files_by_device ON ocpp_diagnostics.files (device_id, received_ms);
   CREATE INDEX files_by_age ON ocpp_diagnostics.files (received_ms);`,
];
const COLUMNS = 'id, device_id, file_name, bytes, sha256, content_type, command_id, uploaded_at, received_ms';

/**
 * Diagnostics in PostgreSQL (schema `ocpp_diagnostics`): the bytes in a bytea column next to
 * their row (files are ≤ the upload limit, 10 MiB by default, well under bytea's 1 GiB), so any
 * cloud on the database serves any file. Two clouds handed the same file at once: the unique
 * key lets one INSERT win and the other returns the winner's row.
 */
export class PgDiagnosticsStore implements DiagnosticsStore {
  private constructor(private readonly db: PostgresDatabase) {}

  static async open(db: PostgresDatabase): Promise<PgDiagnosticsStore> {
    await db.migrate('ocpp_diagnostics', MIGRATIONS);
    return new PgDiagnosticsStore(db);
  }

  async put(meta: NewDiagnostics, body: Buffer, nowMs: number): Promise<{ record: DiagnosticsRecord; created: boolean }> {
    const ins = await this.db.query<DiagnosticsRow>('storing diagnostics', `INSERT INTO ocpp_diagnostics.files (${COLUMNS}, body)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (device_id, command_id, sha256) DO NOTHING RETURNING ${COLUMNS}`,
    [randomUUID(), meta.deviceId, meta.fileName, body.length, meta.sha256, meta.contentType, meta.commandId, meta.uploadedAt, nowMs, body]);
    if (ins.rows[0]) return { record: toDiagnostics(ins.rows[0]), created: true };
    const r = await this.db.query<DiagnosticsRow>('reading diagnostics', `SELECT ${COLUMNS} FROM ocpp_diagnostics.files
      WHERE device_id = $1 AND command_id = $2 AND sha256 = $3`, [meta.deviceId, meta.commandId, meta.sha256]);
    return { record: toDiagnostics(r.rows[0]!), created: false };
  }

  async list(deviceId: string, limit: number): Promise<DiagnosticsRecord[]> {
    const r = await this.db.query<DiagnosticsRow>('listing diagnostics', `SELECT ${COLUMNS} FROM ocpp_diagnostics.files WHERE device_id = $1
      ORDER BY received_ms DESC, id LIMIT $2`, [deviceId, limit]);
    return r.rows.map(toDiagnostics);
  }

  async get(deviceId: string, id: string): Promise<DiagnosticsRecord | undefined> {
    const r = await this.db.query<DiagnosticsRow>('reading diagnostics', `SELECT ${COLUMNS} FROM ocpp_diagnostics.files WHERE device_id = $1 AND id = $2`, [deviceId, id]);
    return r.rows[0] && toDiagnostics(r.rows[0]);
  }

  async body(deviceId: string, id: string): Promise<Buffer | undefined> {
    const r = await this.db.query<{ body: Buffer }>('reading diagnostics', 'SELECT body FROM ocpp_diagnostics.files WHERE device_id = $1 AND id = $2', [deviceId, id]);
    return r.rows[0]?.body;
  }

  async prune(cutoffMs: number): Promise<number> {
    const r = await this.db.query('pruning diagnostics', 'DELETE FROM ocpp_diagnostics.files WHERE received_ms < $1', [cutoffMs]);
    return r.rowCount ?? 0;
  }

  async close(): Promise<void> {
    // the pool belongs to the cloud (db/postgres.ts)
  }
}
