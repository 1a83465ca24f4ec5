import type { KindSlug } from '@yulan/protos';
import type { PostgresDatabase } from '../db/postgres.js';
import { toMinimumVersion, type MinimumVersion, type MinimumVersionRow, type UpdatePolicyStore } from './update-policy-store.js';

const MIGRATIONS: readonly string[] = [
  `CREATE SCHEMA IF NOT EXISTS update_policy;
   CREATE TABLE update_policy.minimum_versions (
     kind text PRIMARY KEY,
     version text NOT NULL,
     security boolean NOT NULL,
     advisory text,
     set_at text NOT NULL,
     set_by text NOT NULL
   );`,
];

/** Minimum firmware versions in PostgreSQL (schema `update_policy`); one row per kind, so two
 * clouds setting the same kind at once leave the later write (an upsert, no read first). */
export class PgUpdatePolicyStore implements UpdatePolicyStore {
  private constructor(private readonly db: PostgresDatabase) {}

  static async open(db: PostgresDatabase): Promise<PgUpdatePolicyStore> {
    await db.migrate('update_policy', MIGRATIONS);
    return new PgUpdatePolicyStore(db);
  }

  async set(m: MinimumVersion): Promise<void> {
    await this.db.query('setting a minimum firmware version', `INSERT INTO update_policy.minimum_versions (kind, version, security, advisory, set_at, set_by)
      VALUES ($1, $2, $3, $4, $5, $6)
      ON CONFLICT (kind) DO UPDATE SET version = EXCLUDED.version, security = EXCLUDED.security, advisory = EXCLUDED.advisory, set_at = EXCLUDED.set_at, set_by = EXCLUDED.set_by`,
    [m.kind, m.version, m.security, m.advisory, m.setAt, m.setBy]);
  }

  async clear(kind: KindSlug): Promise<boolean> {
    return (await this.db.query('clearing a minimum firmware version', 'DELETE FROM update_policy.minimum_versions WHERE kind = $1', [kind])).rowCount === 1;
  }

  async list(): Promise<MinimumVersion[]> {
    const r = await this.db.query<MinimumVersionRow>('listing minimum firmware versions', 'SELECT * FROM update_policy.minimum_versions ORDER BY kind');
    return r.rows.map(toMinimumVersion);
  }

  async close(): Promise<void> {
    // the pool is the cloud's; closed by it
  }
}
