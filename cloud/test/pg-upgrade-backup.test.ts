import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { PostgresDatabase } from '../src/db/postgres.js';
import { pgRestore } from '../src/db/pg-tools.js';
import { upgradeBackup } from '../src/db/upgrade-backup.js';
import { tempDir } from './helpers.js';
import { usePostgres } from './pg-support.js';

const pgs = usePostgres();
const logger = pino({ level: 'silent' });
const m1 = 'CREATE SCHEMA IF NOT EXISTS demo; CREATE TABLE demo.items (id text PRIMARY KEY)';
const m2 = 'ALTER TABLE demo.items ADD COLUMN note text';
const urlOf = (db: PostgresDatabase): string => (db.pool.options as { connectionString: string }).connectionString;

/** Upgrades on PostgreSQL take a pg_dump first (issue 18, "migrations run at start with a backup taken first"). */
describe.skipIf(pgs.skip)('PostgreSQL schema upgrades take a pg_dump first', () => {
  it('a first start (no schema yet) takes no copy; an upgrade of a schema with data dumps once, and the dump restores the state before it', async () => {
    const tmp = tempDir('yulan-pg-upgrade-');
    try {
      const first = await pgs.fresh();
      const url = urlOf(first);
      const hook1 = upgradeBackup({ url }, tmp.dir, logger);
      const a = new PostgresDatabase({ url, logger, beforeUpgrade: hook1 });
      await a.migrate('demo', [m1]);
      expect(existsSync(join(tmp.dir, 'pg-upgrade'))).toBe(false);
      await a.query('seed', "INSERT INTO demo.items (id) VALUES ('kept')");
      await a.close();
      // The new release: one more migration for demo, and a second component at v0 (new).
      const b = new PostgresDatabase({ url, logger, beforeUpgrade: upgradeBackup({ url }, tmp.dir, logger) });
      try {
        expect(await b.migrate('other', [m1.replaceAll('demo', 'other')])).toEqual({ from: 0, to: 1 });
        expect(existsSync(join(tmp.dir, 'pg-upgrade'))).toBe(false);
        expect(await b.migrate('demo', [m1, m2])).toEqual({ from: 1, to: 2 });
        const copies = readdirSync(join(tmp.dir, 'pg-upgrade'));
        expect(copies).toEqual([expect.stringMatching(/^before-demo-v1\.\d{8}T\d{6}Z\.dump\.bak$/)]);
        const copy = join(tmp.dir, 'pg-upgrade', copies[0]!);
        expect(statSync(copy).mode & 0o777).toBe(0o600);
        // What the copy holds: the data and the version from before the upgrade.
        const target = new PostgresDatabase({ url: await pgs.server().createDatabase(`restored_${process.pid}`), logger });
        try {
          await pgRestore({ url: urlOf(target) }, copy);
          const cols = await target.query<{ column_name: string }>('cols', "SELECT column_name FROM information_schema.columns WHERE table_schema = 'demo' AND table_name = 'items'");
          expect(cols.rows.map((r) => r.column_name)).toEqual(['id']);
          expect((await target.query<{ id: string }>('rows', 'SELECT id FROM demo.items')).rows).toEqual([{ id: 'kept' }]);
          expect((await target.query<{ version: number }>('v', "SELECT version FROM public.yulan_schema WHERE component = 'demo'")).rows[0]?.version).toBe(1);
        } finally { await target.close(); }
      } finally { await b.close(); }
    } finally { tmp.cleanup(); }
  });

  it('a failed dump refuses the upgrade with a clear message and migrates nothing; "none" migrates without a copy', async () => {
    const tmp = tempDir('yulan-pg-upgrade-');
    try {
      const db = await pgs.fresh();
      await db.migrate('demo', [m1]);
      const url = urlOf(db);
      const failing = new PostgresDatabase({ url, logger, beforeUpgrade: upgradeBackup({ url }, tmp.dir, logger, { dump: async () => { throw new Error('pg_dump not found (looked on PATH …)'); } }) });
      try {
        const err = (await failing.migrate('demo', [m1, m2]).catch((e: unknown) => e)) as Error;
        expect(err.message).toMatch(/demo schema in PostgreSQL must be upgraded from version 1 to 2, and a copy is taken first, but the pg_dump failed: pg_dump not found.*Nothing was migrated.*YULAN_DATABASE_UPGRADE_BACKUP=none/);
        expect((await db.query<{ version: number }>('v', "SELECT version FROM public.yulan_schema WHERE component = 'demo'")).rows[0]?.version).toBe(1);
      } finally { await failing.close(); }
      const none = new PostgresDatabase({ url, logger, beforeUpgrade: upgradeBackup({ url }, tmp.dir, logger, { mode: 'none' }) });
      try {
        expect(await none.migrate('demo', [m1, m2])).toEqual({ from: 1, to: 2 });
        expect(readdirSync(join(tmp.dir, 'pg-upgrade'))).toEqual([]); // the failed attempt left no half copy
      } finally { await none.close(); }
    } finally { tmp.cleanup(); }
  });
});
