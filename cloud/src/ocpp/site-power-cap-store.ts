import type Database from 'better-sqlite3';
import type { DbTarget } from '../db/target.js';
import { openMigratedDb, wrapDb } from '../repositories/sqlite.js';

export interface SitePowerCapRecord {
  site: string;
  capW: number;
  /** division number: grows with every re-division of the site (never reused, also across restarts and clouds) */
  generation: number;
  updatedAt: string;
  updatedBy: string;
  /** set when the cap was removed: the site is uncapped, its chargers get their profile
   * cleared as they are online (`capW` keeps the last cap, for the audit's sake) */
  clearedAt: string | null;
}

export interface SitePowerCapAuditRow { at: string; actor: string; action: string; detail: string | null }

/** Each site's grid connection limit in W, with an audit row per change (who set which cap
 * when): `ocpp-site-power-caps.sqlite`, or the `site_power_caps` schema in PostgreSQL. */
export interface SitePowerCapStore {
  get(site: string): Promise<SitePowerCapRecord | undefined>;
  /** every site with a cap, or whose cap was removed (its chargers' profiles are cleared) */
  all(): Promise<SitePowerCapRecord[]>;
  /** sets the cap and writes its audit row in one transaction */
  set(site: string, capW: number, actor: string, nowIso: string): Promise<SitePowerCapRecord>;
  /** removes the site's cap (and audits it) in one transaction; undefined when it has none */
  clear(site: string, actor: string, nowIso: string): Promise<SitePowerCapRecord | undefined>;
  /** The next division number of the site (0: no cap). One statement, so two callers never get the same. */
  nextGeneration(site: string): Promise<number>;
  auditOf(site: string, limit: number): Promise<SitePowerCapAuditRow[]>;
  close(): Promise<void>;
}

const MIGRATIONS = [
  `CREATE TABLE site_power_caps (
     site TEXT PRIMARY KEY,
     cap_w INTEGER NOT NULL CHECK (cap_w > 0),
     generation INTEGER NOT NULL DEFAULT 0,
     updated_at TEXT NOT NULL,
     updated_by TEXT NOT NULL
   );
   CREATE TABLE site_power_cap_audit (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at TEXT NOT NULL,
     actor TEXT NOT NULL,
     site TEXT NOT NULL,
     action TEXT NOT NULL,
     detail TEXT
   );`,
  'ALTER TABLE site_power_caps ADD COLUMN cleared_at TEXT;',
];

export interface SitePowerCapRow { site: string; cap_w: number; generation: number; updated_at: string; updated_by: string; cleared_at: string | null }
export const toSitePowerCap = (r: SitePowerCapRow): SitePowerCapRecord => ({
  site: r.site, capW: r.cap_w, generation: r.generation, updatedAt: r.updated_at, updatedBy: r.updated_by, clearedAt: r.cleared_at ?? null,
});

/** `<dataDir>/ocpp-site-power-caps.sqlite` */
export class SqliteSitePowerCapStore implements SitePowerCapStore {
  readonly #db: Database.Database;

  constructor(file: string) {
    this.#db = openMigratedDb(file, MIGRATIONS, 'site power caps');
  }

  async get(site: string): Promise<SitePowerCapRecord | undefined> {
    return this.#get(site);
  }

  #get(site: string): SitePowerCapRecord | undefined {
    const r = wrapDb('reading a site power cap', () => this.#db.prepare('SELECT * FROM site_power_caps WHERE site = ?').get(site) as SitePowerCapRow | undefined);
    return r && toSitePowerCap(r);
  }

  async all(): Promise<SitePowerCapRecord[]> {
    return wrapDb('listing site power caps', () => (this.#db.prepare('SELECT * FROM site_power_caps ORDER BY site').all() as SitePowerCapRow[]).map(toSitePowerCap));
  }

  async set(site: string, capW: number, actor: string, nowIso: string): Promise<SitePowerCapRecord> {
    return wrapDb('writing a site power cap', () => this.#db.transaction(() => {
      const was = this.#get(site);
      this.#db.prepare(
        `INSERT INTO site_power_caps (site, cap_w, updated_at, updated_by) VALUES (?, ?, ?, ?)
         ON CONFLICT (site) DO UPDATE SET cap_w = excluded.cap_w, updated_at = excluded.updated_at, updated_by = excluded.updated_by, cleared_at = NULL`,
      ).run(site, capW, nowIso, actor);
      this.#db.prepare('INSERT INTO site_power_cap_audit (at, actor, site, action, detail) VALUES (?, ?, ?, ?, ?)')
        .run(nowIso, actor, site, 'set', JSON.stringify({ capW, previousW: was && !was.clearedAt ? was.capW : null }));
      return this.#get(site)!;
    })());
  }

  async clear(site: string, actor: string, nowIso: string): Promise<SitePowerCapRecord | undefined> {
    return wrapDb('removing a site power cap', () => this.#db.transaction(() => {
      const r = this.#db.prepare('UPDATE site_power_caps SET cleared_at = ?, updated_at = ?, updated_by = ? WHERE site = ? AND cleared_at IS NULL')
        .run(nowIso, nowIso, actor, site);
      if (r.changes === 0) return undefined;
      const now = this.#get(site)!;
      this.#db.prepare('INSERT INTO site_power_cap_audit (at, actor, site, action, detail) VALUES (?, ?, ?, ?, ?)')
        .run(nowIso, actor, site, 'clear', JSON.stringify({ previousW: now.capW }));
      return now;
    })());
  }

  async nextGeneration(site: string): Promise<number> {
    return wrapDb('numbering a site cap division', () => {
      this.#db.prepare('UPDATE site_power_caps SET generation = generation + 1 WHERE site = ?').run(site);
      return this.#get(site)?.generation ?? 0;
    });
  }

  async auditOf(site: string, limit: number): Promise<SitePowerCapAuditRow[]> {
    return wrapDb('reading the site power cap audit', () => this.#db.prepare('SELECT at, actor, action, detail FROM site_power_cap_audit WHERE site = ? ORDER BY id DESC LIMIT ?')
      .all(site, limit) as SitePowerCapAuditRow[]);
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}

export async function openSitePowerCapStore(target: DbTarget): Promise<SitePowerCapStore> {
  if (target.kind === 'sqlite') return new SqliteSitePowerCapStore(target.file);
  const { PgSitePowerCapStore } = await import('./pg-site-power-cap-store.js');
  return PgSitePowerCapStore.open(target.db);
}
