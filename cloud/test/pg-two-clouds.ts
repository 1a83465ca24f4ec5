import pino from 'pino';
import { PostgresDatabase } from '../src/db/postgres.js';

/** A second cloud's pool on the same database as `db` (two cloud processes, one database).
 * The caller closes it. */
export function secondCloud(db: PostgresDatabase): PostgresDatabase {
  const o = db.pool.options as { connectionString?: string };
  if (!o.connectionString) throw new Error('no connection string');
  return new PostgresDatabase({ url: o.connectionString, logger: pino({ level: 'silent' }) });
}
