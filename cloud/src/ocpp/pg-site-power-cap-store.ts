import type { PostgresDatabase } from '../db/postgres.js';
import { toSitePowerCap, type SitePowerCapAuditRow, type SitePowerCapRecord, type SitePowerCapRow, type SitePowerCapStore } from './site-power-cap-store.js';

const MIGRATIONS: readonly string[] = [
  `CREATE SCHEMA IF NOT EXISTS site_power_caps;
   CREATE TABLE site_power_caps.caps (
     site text PRIMARY KEY,
     cap_w bigint NOT NULL CHECK (cap_w > 0),
     generation bigint NOT NULL DEFAULT 0,
     updated_at text NOT NULL,
     updated_by text NOT NULL
   );
   CREATE TABLE site_power_caps.audit (
     id bigserial PRIMARY KEY,
     at text NOT NULL,
     actor text NOT NULL,
     site text NOT NULL,
     action text NOT NULL,
     detail text
   );
   CREATE INDEX audit_by_site ON site_power_caps.audit (site, id);`,
  'ALTER TABLE site_power_caps.caps ADD COLUMN cleared_at text;',
];

/** Site power caps in PostgreSQL (schema `site_power_caps`), for several clouds on one
 * database: a cap change and its audit row are one transaction under the site row's lock (so
 * the audit's previous value is the one replaced), and the division number is taken by one
 * UPDATE … RETURNING, so no two divisions of a site share a number whichever cloud runs them. */
export class PgSitePowerCapStore implements SitePowerCapStore {
  private constructor(private readonly db: PostgresDatabase) {}

  static async open(db: PostgresDatabase): Promise<PgSitePowerCapStore> {
    await db.migrate('site_power_caps', MIGRATIONS);
    return new PgSitePowerCapStore(db);
  }

  async get(site: string): Promise<SitePowerCapRecord | undefined> {
    const r = await this.db.query<SitePowerCapRow>('reading a site power cap', 'SELECT * FROM site_power_caps.caps WHERE site = $1', [site]);
    return r.rows[0] && toSitePowerCap(r.rows[0]);
  }

  async all(): Promise<SitePowerCapRecord[]> {
    const r = await this.db.query<SitePowerCapRow>('listing site power caps', 'SELECT * FROM site_power_caps.caps ORDER BY site');
    return r.rows.map(toSitePowerCap);
  }

  async set(site: string, capW: number, actor: string, nowIso: string): Promise<SitePowerCapRecord> {
    return this.db.tx('writing a site power cap', async (sql) => {
      const inserted = await sql.query<SitePowerCapRow>(`INSERT INTO site_power_caps.caps (site, cap_w, updated_at, updated_by) VALUES ($1, $2, $3, $4)
        ON CONFLICT (site) DO NOTHING RETURNING *`, [site, capW, nowIso, actor]);
      let previousW: number | null = null;
      let row = inserted.rows[0];
      if (!row) {
        const was = await sql.query<{ cap_w: number; cleared_at: string | null }>('SELECT cap_w, cleared_at FROM site_power_caps.caps WHERE site = $1 FOR UPDATE', [site]);
        previousW = was.rows[0]!.cleared_at === null ? was.rows[0]!.cap_w : null;
        row = (await sql.query<SitePowerCapRow>(`UPDATE site_power_caps.caps SET cap_w = $2, updated_at = $3, updated_by = $4, cleared_at = NULL WHERE site = $1 RETURNING *`,
          [site, capW, nowIso, actor])).rows[0]!;
      }
      await sql.query('INSERT INTO site_power_caps.audit (at, actor, site, action, detail) VALUES ($1, $2, $3, $4, $5)',
        [nowIso, actor, site, 'set', JSON.stringify({ capW, previousW })]);
      return toSitePowerCap(row);
    });
  }

  async clear(site: string, actor: string, nowIso: string): Promise<SitePowerCapRecord | undefined> {
    return this.db.tx('removing a site power cap', async (sql) => {
      // conditional: of two clouds removing it at once, one removes and audits, the other finds none
      const r = await sql.query<SitePowerCapRow>(`UPDATE site_power_caps.caps SET cleared_at = $2, updated_at = $2, updated_by = $3
        WHERE site = $1 AND cleared_at IS NULL RETURNING *`, [site, nowIso, actor]);
      const row = r.rows[0];
      if (!row) return undefined;
      await sql.query('INSERT INTO site_power_caps.audit (at, actor, site, action, detail) VALUES ($1, $2, $3, $4, $5)',
        [nowIso, actor, site, 'clear', JSON.stringify({ previousW: row.cap_w })]);
      return toSitePowerCap(row);
    });
  }

  async nextGeneration(site: string): Promise<number> {
    const r = await this.db.query<{ generation: number }>('numbering a site cap division',
      'UPDATE site_power_caps.caps SET generation = generation + 1 WHERE site = $1 RETURNING generation', [site]);
    return r.rows[0]?.generation ?? 0;
  }

  async auditOf(site: string, limit: number): Promise<SitePowerCapAuditRow[]> {
    const r = await this.db.query<SitePowerCapAuditRow>('reading the site power cap audit',
      'SELECT at, actor, action, detail FROM site_power_caps.audit WHERE site = $1 ORDER BY id DESC LIMIT $2', [site, limit]);
    return r.rows;
  }

  /** The pool is the cloud's, closed by whoever opened it. */
  async close(): Promise<void> {}
}
