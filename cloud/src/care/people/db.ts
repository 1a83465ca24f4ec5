import type Database from 'better-sqlite3';
import { openMigratedDb } from '../../repositories/sqlite.js';

/**
 * people.sqlite schema migrations, applied in order; `user_version` records how many ran.
 * Kept apart from the device registry: personal data has its own file, so it can be
 * backed up, encrypted at rest or erased on its own terms.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE users (
     id TEXT PRIMARY KEY,
     login TEXT NOT NULL UNIQUE COLLATE NOCASE,
     name TEXT NOT NULL,
     role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'family', 'worker', 'callcentre')),
     locale TEXT NOT NULL CHECK (locale IN ('zh-CN', 'en')),
     password_hash TEXT,
     channels TEXT NOT NULL DEFAULT '[]',
     phone TEXT,
     disabled INTEGER NOT NULL DEFAULT 0,
     created_at INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX users_role ON users (role, disabled);
   CREATE TABLE sessions (
     digest TEXT PRIMARY KEY,
     user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
     created_at INTEGER NOT NULL,
     last_seen_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX sessions_user ON sessions (user_id);
   CREATE TABLE communities (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL) STRICT;
   CREATE TABLE residents (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     address TEXT,
     community_id TEXT NOT NULL REFERENCES communities (id),
     phone TEXT,
     birth_year INTEGER,
     notes TEXT,
     ladder TEXT NOT NULL,
     routine TEXT NOT NULL,
     created_at INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX residents_community ON residents (community_id);
   CREATE TABLE resident_devices (
     device_id TEXT PRIMARY KEY,
     resident_id TEXT NOT NULL REFERENCES residents (id) ON DELETE CASCADE
   ) STRICT;
   CREATE INDEX resident_devices_resident ON resident_devices (resident_id);
   CREATE TABLE family_links (
     resident_id TEXT NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
     user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
     position INTEGER NOT NULL,
     relation TEXT,
     PRIMARY KEY (resident_id, user_id)
   ) STRICT;
   CREATE INDEX family_links_user ON family_links (user_id);
   CREATE TABLE worker_assignments (
     user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
     community_id TEXT NOT NULL REFERENCES communities (id) ON DELETE CASCADE,
     on_duty INTEGER NOT NULL DEFAULT 0,
     duty_from TEXT,
     duty_to TEXT,
     PRIMARY KEY (user_id, community_id)
   ) STRICT;
   CREATE INDEX worker_assignments_community ON worker_assignments (community_id);
   -- resident_id is a resident id or '*' (all residents), hence no foreign key.
   CREATE TABLE health_grants (
     id TEXT PRIMARY KEY,
     user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
     resident_id TEXT NOT NULL,
     granted_by TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX health_grants_user ON health_grants (user_id);
   CREATE TABLE audit (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at_ms INTEGER NOT NULL,
     actor TEXT NOT NULL,
     action TEXT NOT NULL,
     resident_id TEXT,
     purpose TEXT NOT NULL,
     detail TEXT
   ) STRICT;
   CREATE INDEX audit_resident ON audit (resident_id, id);
   CREATE INDEX audit_actor ON audit (actor, id);`,
  // Which resident a device served, and when: erasure deletes the device's data of those
  // periods at the edge, the export includes it, and reads of device data are audited
  // against them. Links older than this table count from the resident's creation.
  `CREATE TABLE device_links (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     device_id TEXT NOT NULL,
     resident_id TEXT NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
     from_ms INTEGER NOT NULL,
     to_ms INTEGER
   ) STRICT;
   CREATE INDEX device_links_device ON device_links (device_id, from_ms);
   CREATE INDEX device_links_resident ON device_links (resident_id);
   INSERT INTO device_links (device_id, resident_id, from_ms, to_ms)
     SELECT d.device_id, d.resident_id, r.created_at, NULL FROM resident_devices d JOIN residents r ON r.id = d.resident_id;`,
];

export { wrapDb as wrap } from '../../repositories/sqlite.js';

/** The SQLite constraint code of a driver error, e.g. 'SQLITE_CONSTRAINT_UNIQUE'. */
export function sqliteCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export type Db = Database.Database;

export function openPeopleDb(file: string): Db {
  return openMigratedDb(file, MIGRATIONS, 'people', { foreignKeys: true });
}
