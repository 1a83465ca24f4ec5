import { PostgresDatabase } from '../src/db/postgres.js';
import { silentLogger } from './helpers.js';

/**
 * A second cloud process on the same database as `db`: its own pool (its own connections,
 * so its own transactions and locks), as two clouds behind a load balancer have. The
 * caller closes it.
 */
export function secondCloud(db: PostgresDatabase): PostgresDatabase {
  const url = (db.pool.options as { connectionString?: string }).connectionString;
  if (!url) throw new Error('no connection string');
  return new PostgresDatabase({ url, logger: silentLogger });
}
