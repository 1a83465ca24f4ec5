import type Database from 'better-sqlite3';
import { openMigratedDb, wrapDb } from '../repositories/sqlite.js';
import { settle } from '../db/settle.js';
import { CloudError, CloudErrorCode } from '../errors.js';
import type { KindSlug } from '@yulan/protos';
import type { Settings } from './settings.js';

/*
 * Twins and commands in their own SQLite file (`control.sqlite` next to the registry), so
 * control traffic never contends with the registry's presence writes, or in the `control`
 * schema in PostgreSQL; every due time is a column, which is what makes timers durable.
 */
export const CommandStatus = {
  Queued: 'queued', Sent: 'sent', Acknowledged: 'acknowledged',
  Succeeded: 'succeeded', Failed: 'failed', TimedOut: 'timed_out', Expired: 'expired',
} as const;
export type CommandStatus = (typeof CommandStatus)[keyof typeof CommandStatus];
export const ACTIVE: readonly CommandStatus[] = ['queued', 'sent', 'acknowledged'];
export const isFinal = (s: CommandStatus): boolean => !ACTIVE.includes(s);

export interface CommandRow {
  id: string; device_id: string; site: string; kind: KindSlug; name: string; args: string;
  status: CommandStatus; message: string | null; output: string | null; idempotency_key: string | null;
  timeout_ms: number; created_at: number; expires_at: number; sent_at: number | null; last_sent_at: number | null;
  acked_at: number | null; ack_seq: number | null; ack_device_ts: number | null;
  deadline_at: number | null; updated_at: number; progress: string | null;
  /** who sent it: a person's id, 'admin-token', or null (sent before people were recorded) */
  requested_by: string | null;
}
export interface TransitionRow { status: CommandStatus; at: number; message: string | null }
export interface TwinRow {
  device_id: string; kind: KindSlug; desired_version: number; desired: Settings; desired_at: number | null; desired_by?: string | null;
  applied_version: number; reported: Settings | null; reported_error: string | null; reported_at: number | null;
}

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE twins (
     device_id TEXT PRIMARY KEY, kind TEXT NOT NULL,
     desired_version INTEGER NOT NULL DEFAULT 0, desired TEXT NOT NULL DEFAULT '{}', desired_at INTEGER,
     applied_version INTEGER NOT NULL DEFAULT 0, reported TEXT, reported_error TEXT, reported_at INTEGER
   ) STRICT;
   CREATE TABLE commands (
     id TEXT PRIMARY KEY, device_id TEXT NOT NULL, site TEXT NOT NULL, kind TEXT NOT NULL,
     name TEXT NOT NULL, args TEXT NOT NULL, status TEXT NOT NULL, message TEXT, output TEXT,
     idempotency_key TEXT, timeout_ms INTEGER NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
     sent_at INTEGER, last_sent_at INTEGER, acked_at INTEGER, ack_seq INTEGER, ack_device_ts INTEGER,
     deadline_at INTEGER, updated_at INTEGER NOT NULL, progress TEXT
   ) STRICT;
   CREATE UNIQUE INDEX commands_idem ON commands (device_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
   CREATE INDEX commands_device ON commands (device_id, created_at);
   CREATE INDEX commands_active ON commands (status) WHERE status IN ('queued', 'sent', 'acknowledged');
   CREATE TABLE command_transitions (
     command_id TEXT NOT NULL, n INTEGER NOT NULL, status TEXT NOT NULL, at INTEGER NOT NULL, message TEXT,
     PRIMARY KEY (command_id, n)
   ) STRICT;`,
  // Who sent each command and who last changed a twin's desired settings (issue 15).
  `ALTER TABLE commands ADD COLUMN requested_by TEXT;
   ALTER TABLE twins ADD COLUMN desired_by TEXT;`,
];


export type Patch = Partial<Pick<CommandRow, 'message' | 'output' | 'sent_at' | 'last_sent_at' | 'acked_at' | 'ack_seq' | 'ack_device_ts' | 'deadline_at' | 'progress'>>;

export type NewCommandRow = Omit<CommandRow, 'requested_by' | 'status' | 'message' | 'output' | 'sent_at' | 'last_sent_at' | 'acked_at' | 'ack_seq' | 'ack_device_ts' | 'deadline_at' | 'progress' | 'updated_at'> & { requested_by?: string | null };
/** The columns a transition may change besides status (a fixed list: never taken from input). */
export const PATCH_COLUMNS = ['message', 'output', 'sent_at', 'last_sent_at', 'acked_at', 'ack_seq', 'ack_device_ts', 'deadline_at', 'progress'] as const;

/**
 * Twins and commands: `control.sqlite` (SqliteControlStore) or the `control` schema in
 * PostgreSQL (PgControlStore), where several clouds see the same device traffic. Every
 * status change is a guarded transition, so of two clouds confirming one command from the
 * same telemetry exactly one records it. Contract: cloud/test/control-store-contract.test.ts.
 */
export interface ControlStore {
  getTwin(deviceId: string): Promise<TwinRow | undefined>;
  /** Compare-and-set of the desired state; false when `expectedVersion` is stale. */
  setDesired(deviceId: string, kind: KindSlug, expectedVersion: number, settings: Settings, at: number, by?: string | null): Promise<boolean>;
  setReported(deviceId: string, kind: KindSlug, appliedVersion: number, settings: Settings, error: string | null, at: number): Promise<void>;
  /** Duplicate (CloudError) when the id, or the device's idempotency key, is taken. */
  insertCommand(row: NewCommandRow): Promise<CommandRow>;
  getCommand(id: string): Promise<CommandRow | undefined>;
  byIdempotencyKey(deviceId: string, key: string): Promise<CommandRow | undefined>;
  listCommands(deviceId: string, opts: { status?: CommandStatus; limit: number; offset: number }): Promise<{ items: CommandRow[]; total: number }>;
  /** Every command not yet final (the scheduler's and the confirmer's working set). */
  activeCommands(deviceId?: string): Promise<CommandRow[]>;
  transitions(id: string): Promise<TransitionRow[]>;
  /** Moves a command to `to` only if it is in one of `from`, recording the transition;
   * undefined when the guard did not match (a late result, a racing timer, another cloud). */
  transition(id: string, from: readonly CommandStatus[], to: CommandStatus, at: number, patch?: Patch): Promise<CommandRow | undefined>;
  close(): Promise<void>;
}

export class SqliteControlStore implements ControlStore {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = openMigratedDb(file, MIGRATIONS, 'control');
  }

  getTwin(deviceId: string): Promise<TwinRow | undefined> { return settle(() => this.getTwinSync(deviceId)); }
  setDesired(deviceId: string, kind: KindSlug, expectedVersion: number, settings: Settings, at: number, by: string | null = null): Promise<boolean> {
    return settle(() => this.setDesiredSync(deviceId, kind, expectedVersion, settings, at, by));
  }
  setReported(deviceId: string, kind: KindSlug, appliedVersion: number, settings: Settings, error: string | null, at: number): Promise<void> {
    return settle(() => this.setReportedSync(deviceId, kind, appliedVersion, settings, error, at));
  }
  insertCommand(row: NewCommandRow): Promise<CommandRow> {
    return settle(() => {
      try {
        return this.insertCommandSync(row);
      } catch (err) {
        if ((err as { cause?: { code?: string } }).cause?.code === 'SQLITE_CONSTRAINT_UNIQUE' || (err as { cause?: { code?: string } }).cause?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
          throw new CloudError(CloudErrorCode.Duplicate, `command ${row.id} or its idempotency key exists already`, { cause: err });
        }
        throw err;
      }
    });
  }
  getCommand(id: string): Promise<CommandRow | undefined> { return settle(() => this.getCommandSync(id)); }
  byIdempotencyKey(deviceId: string, key: string): Promise<CommandRow | undefined> { return settle(() => this.byIdempotencyKeySync(deviceId, key)); }
  listCommands(deviceId: string, opts: { status?: CommandStatus; limit: number; offset: number }): Promise<{ items: CommandRow[]; total: number }> {
    return settle(() => this.listCommandsSync(deviceId, opts));
  }
  activeCommands(deviceId?: string): Promise<CommandRow[]> { return settle(() => this.activeCommandsSync(deviceId)); }
  transitions(id: string): Promise<TransitionRow[]> { return settle(() => this.transitionsSync(id)); }
  transition(id: string, from: readonly CommandStatus[], to: CommandStatus, at: number, patch: Patch = {}): Promise<CommandRow | undefined> {
    return settle(() => this.transitionSync(id, from, to, at, patch));
  }
  close(): Promise<void> { return settle(() => { if (this.db.open) this.db.close(); }); }

  // ---- twins ----
  private getTwinSync(deviceId: string): TwinRow | undefined {
    const r = wrapDb('read twin', () => this.db.prepare('SELECT * FROM twins WHERE device_id = ?').get(deviceId)) as
      (Omit<TwinRow, 'desired' | 'reported'> & { desired: string; reported: string | null }) | undefined;
    if (!r) return undefined;
    return { ...r, desired: JSON.parse(r.desired) as Settings, reported: r.reported === null ? null : (JSON.parse(r.reported) as Settings) };
  }

  /** Compare-and-set of the desired state; false when `expectedVersion` is stale. */
  private setDesiredSync(deviceId: string, kind: KindSlug, expectedVersion: number, settings: Settings, at: number, by: string | null = null): boolean {
    return wrapDb('write desired twin', () => this.db.transaction(() => {
      const cur = this.db.prepare('SELECT desired_version FROM twins WHERE device_id = ?').get(deviceId) as { desired_version: number } | undefined;
      if ((cur?.desired_version ?? 0) !== expectedVersion) return false;
      this.db.prepare(`INSERT INTO twins (device_id, kind, desired_version, desired, desired_at, desired_by) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (device_id) DO UPDATE SET desired_version = excluded.desired_version, desired = excluded.desired, desired_at = excluded.desired_at,
          desired_by = excluded.desired_by`)
        .run(deviceId, kind, expectedVersion + 1, JSON.stringify(settings), at, by);
      return true;
    })());
  }

  private setReportedSync(deviceId: string, kind: KindSlug, appliedVersion: number, settings: Settings, error: string | null, at: number): void {
    wrapDb('write reported twin', () => this.db.prepare(`INSERT INTO twins (device_id, kind, applied_version, reported, reported_error, reported_at) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (device_id) DO UPDATE SET applied_version = excluded.applied_version, reported = excluded.reported,
        reported_error = excluded.reported_error, reported_at = excluded.reported_at`)
      .run(deviceId, kind, appliedVersion, JSON.stringify(settings), error, at));
  }

  // ---- commands ----
  private insertCommandSync(row: NewCommandRow): CommandRow {
    return wrapDb('insert command', () => this.db.transaction(() => {
      this.db.prepare(`INSERT INTO commands (id, device_id, site, kind, name, args, status, idempotency_key, timeout_ms, created_at, expires_at, updated_at, requested_by)
        VALUES (@id, @device_id, @site, @kind, @name, @args, 'queued', @idempotency_key, @timeout_ms, @created_at, @expires_at, @created_at, @requested_by)`).run({ ...row, requested_by: row.requested_by ?? null });
      this.db.prepare(`INSERT INTO command_transitions (command_id, n, status, at) VALUES (?, 0, 'queued', ?)`).run(row.id, row.created_at);
      return this.getCommandSync(row.id)!;
    })());
  }

  private getCommandSync(id: string): CommandRow | undefined {
    return wrapDb('read command', () => this.db.prepare('SELECT * FROM commands WHERE id = ?').get(id) as CommandRow | undefined);
  }

  private byIdempotencyKeySync(deviceId: string, key: string): CommandRow | undefined {
    return wrapDb('read command', () => this.db.prepare('SELECT * FROM commands WHERE device_id = ? AND idempotency_key = ?').get(deviceId, key) as CommandRow | undefined);
  }

  private listCommandsSync(deviceId: string, opts: { status?: CommandStatus; limit: number; offset: number }): { items: CommandRow[]; total: number } {
    const where = opts.status ? 'device_id = ? AND status = ?' : 'device_id = ?';
    const params: unknown[] = opts.status ? [deviceId, opts.status] : [deviceId];
    return wrapDb('list commands', () => ({
      items: this.db.prepare(`SELECT * FROM commands WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`).all(...params, opts.limit, opts.offset) as CommandRow[],
      total: (this.db.prepare(`SELECT count(*) AS n FROM commands WHERE ${where}`).get(...params) as { n: number }).n,
    }));
  }

  /** Every command not yet final (the scheduler's and the confirmer's working set). */
  private activeCommandsSync(deviceId?: string): CommandRow[] {
    return wrapDb('list active commands', () => (deviceId
      ? this.db.prepare(`SELECT * FROM commands WHERE status IN ('queued', 'sent', 'acknowledged') AND device_id = ? ORDER BY created_at`).all(deviceId)
      : this.db.prepare(`SELECT * FROM commands WHERE status IN ('queued', 'sent', 'acknowledged') ORDER BY created_at`).all()) as CommandRow[]);
  }

  private transitionsSync(id: string): TransitionRow[] {
    return wrapDb('read transitions', () => this.db.prepare('SELECT status, at, message FROM command_transitions WHERE command_id = ? ORDER BY n').all(id) as TransitionRow[]);
  }

  /**
   * Moves a command to `to` only if it is currently in one of `from` (so a late result or
   * a racing timer can never move a final command), recording the transition.
   * @returns the updated row, or undefined when the guard did not match
   */
  private transitionSync(id: string, from: readonly CommandStatus[], to: CommandStatus, at: number, patch: Patch = {}): CommandRow | undefined {
    return wrapDb('update command', () => this.db.transaction(() => {
      const cur = this.getCommandSync(id);
      if (!cur || !from.includes(cur.status)) return undefined;
      const next = { ...cur, ...patch, status: to, updated_at: at };
      this.db.prepare(`UPDATE commands SET status = @status, message = @message, output = @output, sent_at = @sent_at, last_sent_at = @last_sent_at,
        acked_at = @acked_at, ack_seq = @ack_seq, ack_device_ts = @ack_device_ts, deadline_at = @deadline_at, progress = @progress, updated_at = @updated_at
        WHERE id = @id`).run(next);
      if (to !== cur.status) {
        const n = (this.db.prepare('SELECT count(*) AS n FROM command_transitions WHERE command_id = ?').get(id) as { n: number }).n;
        this.db.prepare('INSERT INTO command_transitions (command_id, n, status, at, message) VALUES (?, ?, ?, ?, ?)').run(id, n, to, at, patch.message ?? null);
      }
      return next;
    })());
  }
}
