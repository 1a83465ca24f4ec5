import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
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
 * same way: parent folder created, WAL (readers never block the writer), a busy timeout, and
 * the schema brought up to date — `migrations` run in order, each in its own transaction,
 * with `user_version` recording how many ran, so a half-applied upgrade cannot persist.
 */
export function openMigratedDb(file: string, migrations: readonly string[], name: string, opts: { foreignKeys?: boolean } = {}): Database.Database {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = wrapDb(`opening the ${name} database`, () => new Database(file));
  wrapDb(`migrating the ${name} database`, () => {
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    if (opts.foreignKeys) db.pragma('foreign_keys = ON');
    const version = db.pragma('user_version', { simple: true }) as number;
    for (let i = version; i < migrations.length; i++) {
      db.transaction(() => {
        db.exec(migrations[i] as string);
        db.pragma(`user_version = ${i + 1}`);
      })();
    }
  });
  return db;
}
