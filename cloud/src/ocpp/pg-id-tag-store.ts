import type { DbTarget } from '../db/target.js';
import type { PostgresDatabase, Sql } from '../db/postgres.js';
import { SqliteIdTagStore, type IdTagAuditRow, type IdTagChangeFn, type IdTagRecord, type IdTagStatus, type IdTagStore } from './id-tag-store.js';

/**
 * The id tag list in PostgreSQL, schema `ocpp` (the counterpart of ocpp-id-tags.sqlite).
 *
 * Versions with several clouds: every change first increments the one row of
 * `ocpp.id_tag_version` and keeps that row locked until it commits. So changes take their
 * versions one after another and commit in version order: no reader ever sees version
 * v+1 without v (with a sequence, a later version could commit first and a gateway that
 * synced up to it would skip the earlier one for good). The read-merge-write of one tag
 * happens after taking that lock, so two clouds editing one tag cannot lose a change (a
 * block is never undone by a concurrent note edit). The sync feed reads its rows and the
 * list version in one snapshot (REPEATABLE READ).
 */
export const MIGRATIONS = [
  `CREATE SCHEMA IF NOT EXISTS ocpp;
   CREATE TABLE ocpp.id_tags (
     tag text NOT NULL,
     scope text NOT NULL,
     status text NOT NULL CHECK (status IN ('Accepted', 'Blocked', 'Expired')),
     expiry_ms bigint,
     parent text,
     note text,
     deleted boolean NOT NULL DEFAULT false,
     version bigint NOT NULL UNIQUE,
     created_at timestamptz NOT NULL,
     updated_at timestamptz NOT NULL,
     PRIMARY KEY (tag, scope)
   );
   CREATE TABLE ocpp.id_tag_version (id integer PRIMARY KEY CHECK (id = 1), version bigint NOT NULL);
   INSERT INTO ocpp.id_tag_version (id, version) VALUES (1, 0);
   CREATE TABLE ocpp.id_tag_audit (
     id bigserial PRIMARY KEY,
     at timestamptz NOT NULL,
     actor text NOT NULL,
     tag text NOT NULL,
     scope text NOT NULL,
     action text NOT NULL,
     detail text
   );
   CREATE INDEX id_tag_audit_tag ON ocpp.id_tag_audit (tag, id);`,
];

interface Row {
  tag: string; scope: string; status: IdTagStatus; expiry_ms: number | null; parent: string | null; note: string | null;
  deleted: boolean; version: number; created_at: Date; updated_at: Date;
}
const toRecord = (r: Row): IdTagRecord => ({
  tag: r.tag, scope: r.scope, status: r.status, expiryMs: r.expiry_ms, parent: r.parent, note: r.note, deleted: r.deleted,
  version: r.version, createdAt: r.created_at.toISOString(), updatedAt: r.updated_at.toISOString(),
});

/** The next list version; the row stays locked until the transaction ends. */
async function nextVersion(sql: Sql): Promise<number> {
  const r = await sql.query<{ version: number }>('UPDATE ocpp.id_tag_version SET version = version + 1 WHERE id = 1 RETURNING version');
  return (r.rows[0] as { version: number }).version;
}

async function audit(sql: Sql, at: string, actor: string, tag: string, scope: string, action: string, detail: string | null): Promise<void> {
  await sql.query('INSERT INTO ocpp.id_tag_audit (at, actor, tag, scope, action, detail) VALUES ($1, $2, $3, $4, $5, $6)', [at, actor, tag, scope, action, detail]);
}

export class PgIdTagStore implements IdTagStore {
  constructor(private readonly db: PostgresDatabase) {}

  async get(tag: string, scope: string): Promise<IdTagRecord | undefined> {
    const r = await this.db.query<Row>('reading an id tag', 'SELECT * FROM ocpp.id_tags WHERE tag = $1 AND scope = $2', [tag, scope]);
    return r.rows[0] && toRecord(r.rows[0]);
  }

  async write(tag: string, scope: string, change: IdTagChangeFn, actor: string, action: string, nowIso: string): Promise<IdTagRecord> {
    return this.db.tx('writing an id tag', async (sql) => {
      const version = await nextVersion(sql);
      // Read after the version lock: every earlier change to this tag has committed.
      const cur = await sql.query<Row>('SELECT * FROM ocpp.id_tags WHERE tag = $1 AND scope = $2', [tag, scope]);
      const w = change(cur.rows[0] && toRecord(cur.rows[0]));
      const r = await sql.query<Row>(`INSERT INTO ocpp.id_tags (tag, scope, status, expiry_ms, parent, note, deleted, version, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, false, $7, $8, $8)
        ON CONFLICT (tag, scope) DO UPDATE SET status = EXCLUDED.status, expiry_ms = EXCLUDED.expiry_ms, parent = EXCLUDED.parent,
          note = EXCLUDED.note, deleted = false, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at,
          created_at = CASE WHEN ocpp.id_tags.deleted THEN EXCLUDED.created_at ELSE ocpp.id_tags.created_at END
        RETURNING *`, [tag, scope, w.status, w.expiryMs, w.parent, w.note, version, nowIso]);
      await audit(sql, nowIso, actor, tag, scope, action, JSON.stringify({ status: w.status, expiryMs: w.expiryMs, parent: w.parent }));
      return toRecord(r.rows[0] as Row);
    });
  }

  async remove(tag: string, scope: string, actor: string, nowIso: string): Promise<boolean> {
    return this.db.tx('removing an id tag', async (sql) => {
      const version = await nextVersion(sql);
      const r = await sql.query('UPDATE ocpp.id_tags SET deleted = true, version = $1, updated_at = $2 WHERE tag = $3 AND scope = $4 AND NOT deleted',
        [version, nowIso, tag, scope]);
      if (r.rowCount !== 1) throw new NothingRemoved();
      await audit(sql, nowIso, actor, tag, scope, 'remove', null);
      return true;
    }).catch((err: unknown) => {
      // Nothing to remove: roll back so the version is not spent (a gap would be harmless,
      // but SQLite has none and the contract says the same).
      if (err instanceof NothingRemoved || (err as { cause?: unknown }).cause instanceof NothingRemoved) return false;
      throw err;
    });
  }

  async list(o: { scope?: string; status?: IdTagStatus; limit: number; offset: number }): Promise<IdTagRecord[]> {
    const r = await this.db.query<Row>('listing id tags', `SELECT * FROM ocpp.id_tags
      WHERE NOT deleted AND ($1::text IS NULL OR scope = $1) AND ($2::text IS NULL OR status = $2)
      ORDER BY tag, scope LIMIT $3 OFFSET $4`, [o.scope ?? null, o.status ?? null, o.limit, o.offset]);
    return r.rows.map(toRecord);
  }

  async changesSince(since: number, limit: number): Promise<{ rows: IdTagRecord[]; version: number }> {
    return this.db.tx('reading id tag changes', async (sql) => {
      const rows = await sql.query<Row>('SELECT * FROM ocpp.id_tags WHERE version > $1 ORDER BY version LIMIT $2', [since, limit]);
      const v = await sql.query<{ version: number }>('SELECT version FROM ocpp.id_tag_version WHERE id = 1');
      return { rows: rows.rows.map(toRecord), version: (v.rows[0] as { version: number }).version };
    }, 'repeatable read');
  }

  async version(): Promise<number> {
    const r = await this.db.query<{ version: number }>('reading the id tag version', 'SELECT version FROM ocpp.id_tag_version WHERE id = 1');
    return (r.rows[0] as { version: number }).version;
  }

  async auditOf(tag: string, limit: number): Promise<IdTagAuditRow[]> {
    const r = await this.db.query<IdTagAuditRow & { at: Date }>('reading the id tag audit',
      'SELECT at, actor, scope, action, detail FROM ocpp.id_tag_audit WHERE tag = $1 ORDER BY id DESC LIMIT $2', [tag, limit]);
    return r.rows.map((x) => ({ ...x, at: x.at.toISOString() }));
  }

  /** The pool is the cloud's, closed by start.ts. */
  async close(): Promise<void> {}
}

class NothingRemoved extends Error {}

/** The id tag store on `target`: its SQLite file, or the `ocpp` schema. */
export async function openIdTagStore(target: DbTarget): Promise<IdTagStore> {
  if (target.kind === 'sqlite') return new SqliteIdTagStore(target.file);
  await target.db.migrate('ocpp', MIGRATIONS);
  return new PgIdTagStore(target.db);
}
