import type Database from 'better-sqlite3';
import type { KindSlug } from '@yulan/protos';
import type { DbTarget } from '../db/target.js';
import { openMigratedDb, wrapDb } from '../repositories/sqlite.js';

/** A kind's lowest still supported firmware version (update-policy.ts). */
export interface MinimumVersion {
  kind: KindSlug;
  version: string;
  /** the version fixes a vulnerability (an advisory names it) */
  security: boolean;
  advisory: string | null;
  setAt: string;
  setBy: string;
}

/** Where the minimum versions live: `update-policy.sqlite`, or the `update_policy` schema in PostgreSQL. */
export interface UpdatePolicyStore {
  /** inserts or replaces the kind's minimum */
  set(m: MinimumVersion): Promise<void>;
  /** false when none was set */
  clear(kind: KindSlug): Promise<boolean>;
  /** by kind */
  list(): Promise<MinimumVersion[]>;
  close(): Promise<void>;
}

const MIGRATIONS = [
  `CREATE TABLE minimum_versions (
     kind TEXT PRIMARY KEY,
     version TEXT NOT NULL,
     security INTEGER NOT NULL,
     advisory TEXT,
     set_at TEXT NOT NULL,
     set_by TEXT NOT NULL
   );`,
];

export interface MinimumVersionRow { kind: string; version: string; security: number | boolean; advisory: string | null; set_at: string; set_by: string }
export const toMinimumVersion = (r: MinimumVersionRow): MinimumVersion => ({
  kind: r.kind as KindSlug, version: r.version, security: r.security === 1 || r.security === true, advisory: r.advisory, setAt: r.set_at, setBy: r.set_by,
});

export class SqliteUpdatePolicyStore implements UpdatePolicyStore {
  readonly #db: Database.Database;

  constructor(file: string) {
    this.#db = openMigratedDb(file, MIGRATIONS, 'update policy');
  }

  async set(m: MinimumVersion): Promise<void> {
    wrapDb('setting a minimum firmware version', () => this.#db.prepare(
      `INSERT INTO minimum_versions (kind, version, security, advisory, set_at, set_by) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (kind) DO UPDATE SET version = excluded.version, security = excluded.security, advisory = excluded.advisory, set_at = excluded.set_at, set_by = excluded.set_by`,
    ).run(m.kind, m.version, m.security ? 1 : 0, m.advisory, m.setAt, m.setBy));
  }

  async clear(kind: KindSlug): Promise<boolean> {
    return wrapDb('clearing a minimum firmware version', () => this.#db.prepare('DELETE FROM minimum_versions WHERE kind = ?').run(kind).changes === 1);
  }

  async list(): Promise<MinimumVersion[]> {
    return wrapDb('listing minimum firmware versions', () => (this.#db.prepare('SELECT * FROM minimum_versions ORDER BY kind').all() as MinimumVersionRow[]).map(toMinimumVersion));
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}

export async function openUpdatePolicyStore(target: DbTarget): Promise<UpdatePolicyStore> {
  if (target.kind === 'sqlite') return new SqliteUpdatePolicyStore(target.file);
  const { PgUpdatePolicyStore } = await import('./pg-update-policy-store.js');
  return PgUpdatePolicyStore.open(target.db);
}
