import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { ensurePrivateDir, makePrivate, prepareSchema } from '@yulan/protos';

/**
 * Opens one of the edge's SQLite files (telemetry.db, outbox.db, alerts.db): folder 0700, a
 * new file 0600 (SQLite gives its -wal/-shm the same mode), WAL + synchronous=NORMAL, and the
 * schema versioned like the cloud's — `migrations[i]` brings `user_version` from i to i+1,
 * each in its own transaction. A file from a newer release is refused (DataError) and an
 * existing file is copied before it is migrated (`prepareSchema`). Releases before
 * versioning left user_version 0 with the tables in place: migration 1 is the original
 * `CREATE … IF NOT EXISTS` schema, so it adopts those files unchanged.
 */
export function openEdgeDb(path: string, name: string, migrations: readonly string[]): Database.Database {
  const fresh = !existsSync(path);
  ensurePrivateDir(dirname(path));
  const db = new Database(path);
  try {
    if (fresh) makePrivate(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    const { from } = prepareSchema(db, path, migrations.length, name);
    for (let i = from; i < migrations.length; i++) {
      db.transaction(() => {
        db.exec(migrations[i] as string);
        db.pragma(`user_version = ${i + 1}`);
      })();
    }
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}
