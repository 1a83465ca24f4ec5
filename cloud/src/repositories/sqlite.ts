import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { DataError, ensurePrivateDir, makePrivate, prepareSchema } from '@yulan/protos';
import { CloudError, CloudErrorCode } from '../errors.js';

/** Runs `fn`, turning driver errors into a typed CloudError (our own errors pass through). */
export function wrapDb<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof CloudError) throw err;
    throw new CloudError(CloudErrorCode.Database, `${what} failed`, { cause: err });
  }
}

/**
 * Opens one of the cloud's SQLite files (registry, people, alerts, control, firmware) the
 * same way: parent folder created owner-only (0700) and a new file made 0600 (people.sqlite
 * holds password hashes and residents' notes; SQLite gives its -wal/-shm files the same
 * mode), WAL (readers never block the writer), a busy timeout, and the schema brought up to
 * date — `migrations` run in order, each in its own transaction, with `user_version`
 * recording how many ran, so a half-applied upgrade cannot persist. A file from a newer
 * release is refused, and a copy is taken before any migration of an existing file
 * (`prepareSchema`).
 */
export function openMigratedDb(file: string, migrations: readonly string[], name: string, opts: { foreignKeys?: boolean } = {}): Database.Database {
  const fresh = file !== ':memory:' && !existsSync(file);
  if (file !== ':memory:') ensurePrivateDir(dirname(file));
  const db = wrapDb(`opening the ${name} database`, () => new Database(file));
  try {
    if (fresh) makePrivate(file);
    wrapDb(`migrating the ${name} database`, () => {
      db.pragma('journal_mode = WAL');
      db.pragma('busy_timeout = 5000');
      if (opts.foreignKeys) db.pragma('foreign_keys = ON');
      const { from } = prepareSchema(db, file, migrations.length, name);
      for (let i = from; i < migrations.length; i++) {
        db.transaction(() => {
          db.exec(migrations[i] as string);
          db.pragma(`user_version = ${i + 1}`);
        })();
      }
    });
  } catch (err) {
    db.close();
    // The operator needs the version message as it is, not "migrating … failed".
    if (err instanceof CloudError && err.cause instanceof DataError) throw err.cause;
    throw err;
  }
  return db;
}
