import type { KindSlug } from '@yulan/protos';
import { isUniqueViolation, type PostgresDatabase } from '../db/postgres.js';
import { CloudError, CloudErrorCode } from '../errors.js';
import type { Settings } from './settings.js';
import {
  ACTIVE, PATCH_COLUMNS, type CommandRow, type CommandStatus, type ControlStore, type NewCommandRow, type Patch, type TransitionRow, type TwinRow,
} from './store.js';

/* Epoch-ms columns are bigint; a command's args/output/progress stay text (the JSON the
 * service wrote, compared byte for byte for idempotency); twin settings are jsonb. */
const MIGRATIONS: readonly string[] = [
  `CREATE SCHEMA IF NOT EXISTS control;
   CREATE TABLE control.twins (
     device_id text PRIMARY KEY, kind text NOT NULL,
     desired_version integer NOT NULL DEFAULT 0, desired jsonb NOT NULL DEFAULT '{}', desired_at bigint, desired_by text,
     applied_version integer NOT NULL DEFAULT 0, reported jsonb, reported_error text, reported_at bigint
   );
   CREATE TABLE control.commands (
     id text PRIMARY KEY, device_id text NOT NULL, site text NOT NULL, kind text NOT NULL,
     name text NOT NULL, args text NOT NULL, status text NOT NULL, message text, output text,
     idempotency_key text, timeout_ms bigint NOT NULL, created_at bigint NOT NULL, expires_at bigint NOT NULL,
     sent_at bigint, last_sent_at bigint, acked_at bigint, ack_seq bigint, ack_device_ts bigint,
     deadline_at bigint, updated_at bigint NOT NULL, progress text, requested_by text
   );
   CREATE UNIQUE INDEX commands_idem ON control.commands (device_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
   CREATE INDEX commands_device ON control.commands (device_id, created_at);
   CREATE INDEX commands_active ON control.commands (status) WHERE status IN ('queued', 'sent', 'acknowledged');
   CREATE TABLE control.command_transitions (
     command_id text NOT NULL REFERENCES control.commands (id), n integer NOT NULL, status text NOT NULL, at bigint NOT NULL, message text,
     PRIMARY KEY (command_id, n)
   );`,
];

/**
 * Twins and commands in PostgreSQL (schema `control`) for several clouds on one database.
 * Each cloud sees the telemetry that confirms a command (both subscribe to it): a
 * transition locks the command's row (SELECT … FOR UPDATE) and checks the expected status
 * under that lock, so the confirmation, a timeout or a result is recorded once, by one
 * cloud; the other finds the command final and does nothing. The desired twin is a
 * compare-and-set on its version in one statement.
 */
export class PgControlStore implements ControlStore {
  private constructor(private readonly db: PostgresDatabase) {}

  static async open(db: PostgresDatabase): Promise<PgControlStore> {
    await db.migrate('control', MIGRATIONS);
    return new PgControlStore(db);
  }

  async getTwin(deviceId: string): Promise<TwinRow | undefined> {
    return (await this.db.query<TwinRow>('read twin', 'SELECT * FROM control.twins WHERE device_id = $1', [deviceId])).rows[0];
  }

  async setDesired(deviceId: string, kind: KindSlug, expectedVersion: number, settings: Settings, at: number, by: string | null = null): Promise<boolean> {
    const values = [deviceId, kind, expectedVersion + 1, JSON.stringify(settings), at, by, expectedVersion];
    // Version 0 may mean "no row yet" (insert) or a row holding only reported state.
    const r = expectedVersion === 0
      ? await this.db.query('write desired twin', `INSERT INTO control.twins (device_id, kind, desired_version, desired, desired_at, desired_by)
          VALUES ($1, $2, $3, $4::jsonb, $5, $6)
          ON CONFLICT (device_id) DO UPDATE SET desired_version = EXCLUDED.desired_version, desired = EXCLUDED.desired,
            desired_at = EXCLUDED.desired_at, desired_by = EXCLUDED.desired_by
          WHERE control.twins.desired_version = $7`, values)
      : await this.db.query('write desired twin', `UPDATE control.twins SET desired_version = $2, desired = $3::jsonb, desired_at = $4, desired_by = $5
          WHERE device_id = $1 AND desired_version = $6`, [deviceId, ...values.slice(2)]);
    return r.rowCount === 1;
  }

  async setReported(deviceId: string, kind: KindSlug, appliedVersion: number, settings: Settings, error: string | null, at: number): Promise<void> {
    await this.db.query('write reported twin', `INSERT INTO control.twins (device_id, kind, applied_version, reported, reported_error, reported_at)
      VALUES ($1, $2, $3, $4::jsonb, $5, $6)
      ON CONFLICT (device_id) DO UPDATE SET applied_version = EXCLUDED.applied_version, reported = EXCLUDED.reported,
        reported_error = EXCLUDED.reported_error, reported_at = EXCLUDED.reported_at`, [deviceId, kind, appliedVersion, JSON.stringify(settings), error, at]);
  }

  insertCommand(row: NewCommandRow): Promise<CommandRow> {
    return this.db.tx('insert command', async (sql) => {
      try {
        const r = await sql.query<CommandRow>(`INSERT INTO control.commands
          (id, device_id, site, kind, name, args, status, idempotency_key, timeout_ms, created_at, expires_at, updated_at, requested_by)
          VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $8, $9, $10, $9, $11) RETURNING *`,
        [row.id, row.device_id, row.site, row.kind, row.name, row.args, row.idempotency_key, row.timeout_ms, row.created_at, row.expires_at, row.requested_by ?? null]);
        await sql.query(`INSERT INTO control.command_transitions (command_id, n, status, at) VALUES ($1, 0, 'queued', $2)`, [row.id, row.created_at]);
        return r.rows[0] as CommandRow;
      } catch (err) {
        if (isUniqueViolation(err)) throw new CloudError(CloudErrorCode.Duplicate, `command ${row.id} or its idempotency key exists already`, { cause: err });
        throw err;
      }
    });
  }

  async getCommand(id: string): Promise<CommandRow | undefined> {
    return (await this.db.query<CommandRow>('read command', 'SELECT * FROM control.commands WHERE id = $1', [id])).rows[0];
  }

  async byIdempotencyKey(deviceId: string, key: string): Promise<CommandRow | undefined> {
    return (await this.db.query<CommandRow>('read command', 'SELECT * FROM control.commands WHERE device_id = $1 AND idempotency_key = $2', [deviceId, key])).rows[0];
  }

  async listCommands(deviceId: string, opts: { status?: CommandStatus; limit: number; offset: number }): Promise<{ items: CommandRow[]; total: number }> {
    const args = [deviceId, opts.status ?? null];
    const where = 'device_id = $1 AND ($2::text IS NULL OR status = $2)';
    const items = await this.db.query<CommandRow>('list commands', `SELECT * FROM control.commands WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4`,
      [...args, opts.limit, opts.offset]);
    const total = await this.db.query<{ n: number }>('list commands', `SELECT count(*)::int AS n FROM control.commands WHERE ${where}`, args);
    return { items: items.rows, total: total.rows[0]?.n ?? 0 };
  }

  async activeCommands(deviceId?: string): Promise<CommandRow[]> {
    return (await this.db.query<CommandRow>('list active commands', `SELECT * FROM control.commands
      WHERE status = ANY($1) AND ($2::text IS NULL OR device_id = $2) ORDER BY created_at, id`, [[...ACTIVE], deviceId ?? null])).rows;
  }

  async transitions(id: string): Promise<TransitionRow[]> {
    return (await this.db.query<TransitionRow>('read transitions', 'SELECT status, at, message FROM control.command_transitions WHERE command_id = $1 ORDER BY n', [id])).rows;
  }

  transition(id: string, from: readonly CommandStatus[], to: CommandStatus, at: number, patch: Patch = {}): Promise<CommandRow | undefined> {
    return this.db.tx('update command', async (sql) => {
      // The lock makes the guard hold across clouds: a second cloud waits here, then reads
      // the status the first one committed.
      const cur = (await sql.query<CommandRow>('SELECT * FROM control.commands WHERE id = $1 FOR UPDATE', [id])).rows[0];
      if (!cur || !from.includes(cur.status)) return undefined;
      const next: CommandRow = { ...cur, ...patch, status: to, updated_at: at };
      const sets = PATCH_COLUMNS.map((c, i) => `${c} = $${i + 4}`).join(', ');
      await sql.query(`UPDATE control.commands SET status = $2, updated_at = $3, ${sets} WHERE id = $1`,
        [id, to, at, ...PATCH_COLUMNS.map((c) => next[c])]);
      if (to !== cur.status) {
        await sql.query(`INSERT INTO control.command_transitions (command_id, n, status, at, message)
          SELECT $1, count(*), $2, $3, $4 FROM control.command_transitions WHERE command_id = $1`, [id, to, at, patch.message ?? null]);
      }
      return next;
    });
  }

  /** The pool is the cloud's, closed by whoever opened it. */
  async close(): Promise<void> {}
}
