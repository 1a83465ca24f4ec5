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
}

export interface SitePowerCapAuditRow { at: string; actor: string; action: string; detail: string | null }

/** Each site's grid connection limit in W, with an audit row per change (who set which cap
 * when): `ocpp-site-power-caps.sqlite`, or the `site_power_caps` schema in PostgreSQL. */
export interface SitePowerCapStore {
  get(site: string): Promise<SitePowerCapRecord | undefined>;
  /** every capped site */
  all(): Promise<SitePowerCapRecord[]>;
  /** sets the cap and writes its audit row in one transaction */
  set(site: string, capW: number, actor: string, nowIso: string): Promise<SitePowerCapRecord>;
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
];

export interface SitePowerCapRow { site: string; cap_w: number; generation: number; updated_at: string; updated_by: string }
export const toSitePowerCap = (r: SitePowerCapRow): SitePowerCapRecord => ({ site: r.site, capW: r.cap_w, generation: r.generation, updatedAt: r.updated_at, updatedBy: r.updated_by });

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
         ON CONFLICT (site) DO UPDATE SET cap_w = excluded.cap_w, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
      ).run(site, capW, nowIso, actor);
      this.#db.prepare('INSERT INTO site_power_cap_audit (at, actor, site, action, detail) VALUES (?, ?, ?, ?, ?)')
        .run(nowIso, actor, site, 'set', JSON.stringify({ capW, previousW: was?.capW ?? null }));
      return this.#get(site)!;
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
