import type Database from 'better-sqlite3';
import { openMigratedDb, wrapDb } from '../repositories/sqlite.js';

export const ID_TAG_STATUSES = ['Accepted', 'Blocked', 'Expired'] as const;
export type IdTagStatus = (typeof ID_TAG_STATUSES)[number];
/** A tag valid at every site of the operator is stored with this scope. */
export const EVERY_SITE = '*';

export interface IdTagRecord {
  /** upper-case (OCPP IdToken is CiString20: compared case-insensitively) */
  tag: string;
  /** a site id, or `*` (every site) */
  scope: string;
  status: IdTagStatus;
  expiryMs: number | null;
  parent: string | null;
  note: string | null;
  deleted: boolean;
  /** list version at this row's last change; the gateways sync by it */
  version: number;
  createdAt: string;
  updatedAt: string;
}

const MIGRATIONS = [
  `CREATE TABLE id_tags (
     tag TEXT NOT NULL,
     scope TEXT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('Accepted', 'Blocked', 'Expired')),
     expiry_ms INTEGER,
     parent TEXT,
     note TEXT,
     deleted INTEGER NOT NULL DEFAULT 0,
     version INTEGER NOT NULL,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     PRIMARY KEY (tag, scope)
   );
   CREATE UNIQUE INDEX id_tags_version ON id_tags (version);
   CREATE TABLE id_tag_audit (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at TEXT NOT NULL,
     actor TEXT NOT NULL,
     tag TEXT NOT NULL,
     scope TEXT NOT NULL,
     action TEXT NOT NULL,
     detail TEXT
   );`,
];

interface Row {
  tag: string; scope: string; status: IdTagStatus; expiry_ms: number | null; parent: string | null; note: string | null;
  deleted: number; version: number; created_at: string; updated_at: string;
}

const toRecord = (r: Row): IdTagRecord => ({
  tag: r.tag, scope: r.scope, status: r.status, expiryMs: r.expiry_ms, parent: r.parent, note: r.note,
  deleted: r.deleted === 1, version: r.version, createdAt: r.created_at, updatedAt: r.updated_at,
});

export type IdTagWrite = Pick<IdTagRecord, 'status' | 'expiryMs' | 'parent' | 'note'>;

/** Given the row as it is now (a tombstone included, undefined: never listed), what to
 * write, or throw (a typed CloudError) to write nothing. Pure: it may run more than once. */
export type IdTagChangeFn = (current: IdTagRecord | undefined) => IdTagWrite;

export type IdTagAuditRow = { at: string; actor: string; scope: string; action: string; detail: string | null };

/**
 * The id tags (RFID cards, app tokens) chargers authorize, per site or for every site.
 * Every change takes the next list version; a removed tag stays as a tombstone so a
 * gateway syncing "changes since v" learns of the removal. Changes are audited (a tag
 * identifies a card holder). SQLite (`<dataDir>/ocpp-id-tags.sqlite`, below) or PostgreSQL
 * (schema `ocpp`, pg-id-tag-store.ts); both pass cloud/test/id-tag-store-contract.test.ts.
 *
 * Versions become visible in version order, whichever cloud wrote them, so a gateway that
 * has seen version v has seen every change up to v.
 */
export interface IdTagStore {
  get(tag: string, scope: string): Promise<IdTagRecord | undefined>;
  /** Reads the row, lets `change` decide, and writes it under the next version with an
   * audit row — all in one transaction, so two writers cannot lose each other's change. */
  write(tag: string, scope: string, change: IdTagChangeFn, actor: string, action: string, nowIso: string): Promise<IdTagRecord>;
  /** Marks the tag removed (tombstone); false when there was none. */
  remove(tag: string, scope: string, actor: string, nowIso: string): Promise<boolean>;
  list(o: { scope?: string; status?: IdTagStatus; limit: number; offset: number }): Promise<IdTagRecord[]>;
  /** Rows changed after `since` (tombstones included), oldest first, and the list version,
   * read together (one snapshot). */
  changesSince(since: number, limit: number): Promise<{ rows: IdTagRecord[]; version: number }>;
  version(): Promise<number>;
  auditOf(tag: string, limit: number): Promise<IdTagAuditRow[]>;
  close(): Promise<void>;
}

/** `<dataDir>/ocpp-id-tags.sqlite`: one writer, so the version is MAX(version) + 1. */
export class SqliteIdTagStore implements IdTagStore {
  readonly #db: Database.Database;

  constructor(file: string) {
    this.#db = openMigratedDb(file, MIGRATIONS, 'ocpp id tags');
  }

  async get(tag: string, scope: string): Promise<IdTagRecord | undefined> {
    return this.#get(tag, scope);
  }

  #get(tag: string, scope: string): IdTagRecord | undefined {
    const r = wrapDb('reading an id tag', () => this.#db.prepare('SELECT * FROM id_tags WHERE tag = ? AND scope = ?').get(tag, scope) as Row | undefined);
    return r && toRecord(r);
  }

  async write(tag: string, scope: string, change: IdTagChangeFn, actor: string, action: string, nowIso: string): Promise<IdTagRecord> {
    return wrapDb('writing an id tag', () => this.#db.transaction(() => {
      const w = change(this.#get(tag, scope));
      const version = this.#version() + 1;
      this.#db.prepare(
        `INSERT INTO id_tags (tag, scope, status, expiry_ms, parent, note, deleted, version, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?)
         ON CONFLICT (tag, scope) DO UPDATE SET status = excluded.status, expiry_ms = excluded.expiry_ms, parent = excluded.parent,
           note = excluded.note, deleted = 0, version = excluded.version, updated_at = excluded.updated_at,
           created_at = CASE WHEN id_tags.deleted = 1 THEN excluded.created_at ELSE id_tags.created_at END`,
      ).run(tag, scope, w.status, w.expiryMs, w.parent, w.note, version, nowIso, nowIso);
      this.#audit(nowIso, actor, tag, scope, action, JSON.stringify({ status: w.status, expiryMs: w.expiryMs, parent: w.parent }));
      return this.#get(tag, scope) as IdTagRecord;
    })());
  }

  async remove(tag: string, scope: string, actor: string, nowIso: string): Promise<boolean> {
    return wrapDb('removing an id tag', () => this.#db.transaction(() => {
      const version = this.#version() + 1;
      const n = this.#db.prepare('UPDATE id_tags SET deleted = 1, version = ?, updated_at = ? WHERE tag = ? AND scope = ? AND deleted = 0')
        .run(version, nowIso, tag, scope).changes;
      if (n > 0) this.#audit(nowIso, actor, tag, scope, 'remove', null);
      return n > 0;
    })());
  }

  async list(o: { scope?: string; status?: IdTagStatus; limit: number; offset: number }): Promise<IdTagRecord[]> {
    const where = ['deleted = 0'];
    const args: (string | number)[] = [];
    if (o.scope !== undefined) { where.push('scope = ?'); args.push(o.scope); }
    if (o.status !== undefined) { where.push('status = ?'); args.push(o.status); }
    return wrapDb('listing id tags', () => (this.#db.prepare(`SELECT * FROM id_tags WHERE ${where.join(' AND ')} ORDER BY tag, scope LIMIT ? OFFSET ?`)
      .all(...args, o.limit, o.offset) as Row[]).map(toRecord));
  }

  async changesSince(since: number, limit: number): Promise<{ rows: IdTagRecord[]; version: number }> {
    return wrapDb('reading id tag changes', () => this.#db.transaction(() => ({
      rows: (this.#db.prepare('SELECT * FROM id_tags WHERE version > ? ORDER BY version LIMIT ?').all(since, limit) as Row[]).map(toRecord),
      version: this.#version(),
    }))());
  }

  async version(): Promise<number> {
    return this.#version();
  }

  #version(): number {
    return wrapDb('reading the id tag version', () => (this.#db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM id_tags').get() as { v: number }).v);
  }

  async auditOf(tag: string, limit: number): Promise<IdTagAuditRow[]> {
    return wrapDb('reading the id tag audit', () => this.#db.prepare('SELECT at, actor, scope, action, detail FROM id_tag_audit WHERE tag = ? ORDER BY id DESC LIMIT ?')
      .all(tag, limit) as IdTagAuditRow[]);
  }

  async close(): Promise<void> {
    this.#db.close();
  }

  #audit(at: string, actor: string, tag: string, scope: string, action: string, detail: string | null): void {
    this.#db.prepare('INSERT INTO id_tag_audit (at, actor, tag, scope, action, detail) VALUES (?, ?, ?, ?, ?, ?)').run(at, actor, tag, scope, action, detail);
  }
}
