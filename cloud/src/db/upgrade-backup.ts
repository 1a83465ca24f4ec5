import { chmodSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ensurePrivateDir } from '@yulan/protos';
import { CloudError, CloudErrorCode } from '../errors.js';
import { pgDump, type PgConnection } from './pg-tools.js';

/**
 * "Migrations run at start with a backup taken first" (issue 18) on PostgreSQL: before the
 * first migration that would change a schema holding data, the whole database is dumped
 * (`pg_dump --format=custom`) into `<dataDir>/pg-upgrade/`, once per start — the SQLite
 * stores' `<file>.v<n>.<time>.bak` copy, for the shared database. The name ends in `.bak`
 * so `yulan backup` leaves these copies out, as it does the SQLite ones. Without pg_dump
 * (or if the dump fails) the upgrade is refused and the cloud does not start, unless
 * YULAN_DATABASE_UPGRADE_BACKUP=none says the operator took a backup of their own.
 */
export function upgradeBackup(conn: PgConnection, dataDir: string, logger: Logger, opts: { mode?: 'pg_dump' | 'none'; dump?: (c: PgConnection, file: string) => Promise<void> } = {}): (u: { component: string; from: number; to: number }) => Promise<void> {
  let taken: Promise<void> | undefined;
  return (u) => {
    if (opts.mode === 'none') {
      logger.warn(u, 'database schema upgrade without a copy (YULAN_DATABASE_UPGRADE_BACKUP=none)');
      return Promise.resolve();
    }
    taken ??= (async () => {
      const dir = join(dataDir, 'pg-upgrade');
      ensurePrivateDir(dir);
      const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
      const file = join(dir, `before-${u.component}-v${u.from}.${stamp}.dump.bak`);
      try {
        await (opts.dump ?? pgDump)(conn, file);
      } catch (err) {
        rmSync(file, { force: true }); // no half copy that looks like a backup
        throw new CloudError(CloudErrorCode.Database,
          `the ${u.component} schema in PostgreSQL must be upgraded from version ${u.from} to ${u.to}, and a copy is taken first, but the pg_dump failed: ` +
          `${(err as Error).message}. Nothing was migrated. Fix that, or take a backup yourself ("yulan backup") and start once with YULAN_DATABASE_UPGRADE_BACKUP=none.`,
          { cause: err });
      }
      chmodSync(file, 0o600);
      logger.warn({ ...u, copy: file }, 'database schema upgrade (a pg_dump was taken first)');
    })();
    // A failed dump stays failed for this start: every later upgrade is refused as well.
    return taken;
  };
}
