import type { DbTarget } from '../../db/target.js';
import { PgAlertStore } from './pg-alert-store.js';
import { SqliteAlertStore } from './repository.js';
import type { AlertStore } from './store.js';

/** alerts.sqlite, or the `alerts` schema of the cloud's PostgreSQL database. */
export async function openAlertStore(target: DbTarget): Promise<AlertStore> {
  return target.kind === 'sqlite' ? new SqliteAlertStore(target.file) : PgAlertStore.open(target.db);
}
