import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { DbTarget } from '../db/target.js';
import { openMigratedDb, wrapDb } from '../repositories/sqlite.js';

/** One diagnostics file a charger uploaded through an OCPP gateway (docs/ocpp.md §4.2). */
export interface DiagnosticsRecord {
  id: string;
  deviceId: string;
  fileName: string;
  bytes: number;
  sha256: string;
  contentType: string;
  commandId: string;
  /** when the gateway received it from the charger (ISO) */
  uploadedAt: string;
  /** when the cloud stored it (ISO) */
  receivedAt: string;
}

export type NewDiagnostics = Omit<DiagnosticsRecord, 'id' | 'bytes' | 'receivedAt'>;

/**
 * Diagnostics files in the cloud: `ocpp-diagnostics.sqlite` with the bytes as files under
 * `<dataDir>/ocpp-diagnostics/`, or the `ocpp_diagnostics` schema in PostgreSQL (bytes in a
 * bytea column, so every cloud on the database serves every file).
 */
export interface DiagnosticsStore {
  /** Stores the file once per (device, command id, sha256): a repeat hand-over returns the first record with `created: false`. */
  put(meta: NewDiagnostics, body: Buffer, nowMs: number): Promise<{ record: DiagnosticsRecord; created: boolean }>;
  /** newest first */
  list(deviceId: string, limit: number): Promise<DiagnosticsRecord[]>;
  get(deviceId: string, id: string): Promise<DiagnosticsRecord | undefined>;
  body(deviceId: string, id: string): Promise<Buffer | undefined>;
  /** deletes files received before `cutoffMs`; the number deleted */
  prune(cutoffMs: number): Promise<number>;
  close(): Promise<void>;
}

const MIGRATIONS = [
  `CREATE TABLE diagnostics (
     id TEXT PRIMARY KEY,
     device_id TEXT NOT NULL,
     file_name TEXT NOT NULL,
     bytes INTEGER NOT NULL,
     sha256 TEXT NOT NULL,
     content_type TEXT NOT NULL,
     command_id TEXT NOT NULL,
     uploaded_at TEXT NOT NULL,
     received_ms INTEGER NOT NULL,
     UNIQUE (device_id, command_id, sha256)
   );
   CREATE INDEX diagnostics_by_device ON diagnostics (device_id, received_ms);
   CREATE INDEX diagnostics_by_age ON diagnostics (received_ms);`,
];

export interface DiagnosticsRow {
  id: string; device_id: string; file_name: string; bytes: number; sha256: string; content_type: string; command_id: string; uploaded_at: string; received_ms: number;
}
export const toDiagnostics = (r: DiagnosticsRow): DiagnosticsRecord => ({
  id: r.id, deviceId: r.device_id, fileName: r.file_name, bytes: r.bytes, sha256: r.sha256, contentType: r.content_type,
  commandId: r.command_id, uploadedAt: r.uploaded_at, receivedAt: new Date(r.received_ms).toISOString(),
});
const COLUMNS = 'id, device_id, file_name, bytes, sha256, content_type, command_id, uploaded_at, received_ms';

/** SQLite rows, bytes as owner-only files named by the record id (ids are UUIDs, never paths from input). */
export class SqliteDiagnosticsStore implements DiagnosticsStore {
  readonly #db: Database.Database;
  readonly #dir: string;
  /** the temp folder of a ':memory:' store, removed at close */
  readonly #tempRoot: string | undefined;
  /** files the sweep at open removed (what a crash had left) */
  readonly swept: number;

  constructor(file: string, logger?: Pick<Logger, 'info' | 'warn'>) {
    this.#db = openMigratedDb(file, MIGRATIONS, 'ocpp diagnostics');
    this.#tempRoot = file === ':memory:' ? mkdtempFallback() : undefined;
    this.#dir = join(this.#tempRoot ?? dirname(file), 'ocpp-diagnostics');
    try {
      mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
      this.swept = this.#sweep(logger);
    } catch (err) {
      // a store that cannot start must not hold its database open (the cloud's start fails with this error)
      this.#db.close();
      throw err;
    }
    if (this.swept > 0) logger?.info({ swept: this.swept, dir: this.#dir }, 'diagnostics files without a row removed at open');
  }

  /**
   * Removes what a crash left behind: `.part` files (put died before its rename) and files no
   * row names (put died before its INSERT, prune after its DELETE); nothing else ever would.
   * Only here, at open, before this store serves anything: without PostgreSQL one cloud process
   * owns its data directory (docs/deploy.md), so no other process has a put between its rename
   * and its INSERT; and a put runs write, rename and INSERT without yielding (all synchronous),
   * so not even a second store on the same file in this process can be caught half way.
   * A file that cannot be removed is logged and left: hygiene must not stop the cloud's start.
   */
  #sweep(logger: Pick<Logger, 'warn'> | undefined): number {
    const known = wrapDb('sweeping diagnostics', () => this.#db.prepare('SELECT 1 FROM diagnostics WHERE id = ?'));
    let n = 0;
    for (const e of readdirSync(this.#dir, { withFileTypes: true })) {
      if (!e.isFile() || wrapDb('sweeping diagnostics', () => known.get(e.name)) !== undefined) continue;
      try {
        rmSync(join(this.#dir, e.name), { force: true });
        n++;
      } catch (err) {
        logger?.warn({ err, file: e.name }, 'removing a diagnostics file without a row failed; left');
      }
    }
    return n;
  }

  async put(meta: NewDiagnostics, body: Buffer, nowMs: number): Promise<{ record: DiagnosticsRecord; created: boolean }> {
    const existing = this.#find(meta);
    if (existing) return { record: existing, created: false };
    const id = randomUUID();
    // the bytes first: a row never points at a missing file; a crash leaves at most an orphan
    // file or .part, which the next open sweeps (#sweep)
    const part = join(this.#dir, `.${id}.part`);
    writeFileSync(part, body, { mode: 0o600 });
    renameSync(part, join(this.#dir, id));
    const inserted = wrapDb('storing diagnostics', () => this.#db.prepare(
      `INSERT INTO diagnostics (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    ).run(id, meta.deviceId, meta.fileName, body.length, meta.sha256, meta.contentType, meta.commandId, meta.uploadedAt, nowMs).changes === 1);
    if (inserted) return { record: (await this.get(meta.deviceId, id))!, created: true };
    rmSync(join(this.#dir, id), { force: true });
    return { record: this.#find(meta)!, created: false };
  }

  #find(meta: NewDiagnostics): DiagnosticsRecord | undefined {
    const r = wrapDb('reading diagnostics', () => this.#db.prepare(`SELECT ${COLUMNS} FROM diagnostics WHERE device_id = ? AND command_id = ? AND sha256 = ?`)
      .get(meta.deviceId, meta.commandId, meta.sha256) as DiagnosticsRow | undefined);
    return r && toDiagnostics(r);
  }

  async list(deviceId: string, limit: number): Promise<DiagnosticsRecord[]> {
    return wrapDb('listing diagnostics', () => (this.#db.prepare(`SELECT ${COLUMNS} FROM diagnostics WHERE device_id = ? ORDER BY received_ms DESC, id LIMIT ?`)
      .all(deviceId, limit) as DiagnosticsRow[]).map(toDiagnostics));
  }

  async get(deviceId: string, id: string): Promise<DiagnosticsRecord | undefined> {
    const r = wrapDb('reading diagnostics', () => this.#db.prepare(`SELECT ${COLUMNS} FROM diagnostics WHERE device_id = ? AND id = ?`).get(deviceId, id) as DiagnosticsRow | undefined);
    return r && toDiagnostics(r);
  }

  async body(deviceId: string, id: string): Promise<Buffer | undefined> {
    if (!(await this.get(deviceId, id))) return undefined;
    try {
      return readFileSync(join(this.#dir, id));
    } catch {
      return undefined;
    }
  }

  async prune(cutoffMs: number): Promise<number> {
    // rows first (a row never points at a missing file): a crash in between leaves files without a row, swept at the next open
    const ids = wrapDb('pruning diagnostics', () => this.#db.prepare('DELETE FROM diagnostics WHERE received_ms < ? RETURNING id').all(cutoffMs) as { id: string }[]);
    for (const { id } of ids) rmSync(join(this.#dir, id), { force: true });
    return ids.length;
  }

  async close(): Promise<void> {
    this.#db.close();
    if (this.#tempRoot !== undefined) rmSync(this.#tempRoot, { recursive: true, force: true });
  }
}

/** ':memory:' (tests only): bytes in a fresh temp folder. */
function mkdtempFallback(): string {
  const dir = join(process.env.TMPDIR ?? '/tmp', `yulan-diagnostics-${randomUUID()}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

export async function openDiagnosticsStore(target: DbTarget, logger?: Pick<Logger, 'info' | 'warn'>): Promise<DiagnosticsStore> {
  if (target.kind === 'sqlite') return new SqliteDiagnosticsStore(target.file, logger);
  const { PgDiagnosticsStore } = await import('./pg-diagnostics-store.js');
  return PgDiagnosticsStore.open(target.db);
}
