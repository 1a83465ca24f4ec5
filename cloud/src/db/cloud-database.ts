import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { CloudConfig } from '../config.js';
import { PostgresDatabase } from './postgres.js';
import type { DbTarget } from './target.js';
import { upgradeBackup } from './upgrade-backup.js';

export interface CloudDatabase {
  /** set with YULAN_DATABASE_URL: the one shared database every store lives in */
  pgDb?: PostgresDatabase;
  /** where the store named by its SQLite file name keeps its data */
  dbFor(file: string): DbTarget;
}

/**
 * PostgreSQL (YULAN_DATABASE_URL) or one SQLite file per store in the data directory:
 * every store is opened through dbFor, so the choice is made here once.
 */
export function cloudDatabase(config: CloudConfig, log: Logger): CloudDatabase {
  const pgDb = config.database
    ? new PostgresDatabase({
      url: config.database.url,
      logger: log.child({ part: 'postgres' }),
      ...(config.database.caFile ? { ca: readFileSync(config.database.caFile, 'utf8') } : {}),
      beforeUpgrade: upgradeBackup(config.database, config.dataDir, log, { mode: config.database.upgradeBackup }),
    })
    : undefined;
  const dbFor = (file: string): DbTarget => (pgDb ? { kind: 'postgres', db: pgDb } : { kind: 'sqlite', file: join(config.dataDir, file) });
  return { ...(pgDb ? { pgDb } : {}), dbFor };
}
