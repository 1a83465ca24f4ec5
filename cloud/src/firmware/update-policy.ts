import type Database from 'better-sqlite3';
import type { KindSlug } from '@yulan/protos';
import type { DeviceRepository } from '../repositories/device-repository.js';
import { openMigratedDb, wrapDb } from '../repositories/sqlite.js';
import { compareSemver } from './semver.js';

/**
 * Minimum supported firmware per device kind (ETSI EN 303 645 5.3-8/5.3-11; docs/security.md,
 * "Update required"): the operator names the lowest version still supported for a kind,
 * marked as a security update or not, with an advisory; devices of that kind reporting a
 * lower version (or none) are "update required". The security monitor turns their number
 * into an alert that stays open until none is left.
 */
export interface MinimumVersion {
  kind: KindSlug;
  version: string;
  /** the version fixes a vulnerability (an advisory names it) */
  security: boolean;
  advisory: string | null;
  setAt: string;
  setBy: string;
}

export interface UpdateRequired {
  id: string;
  kind: KindSlug;
  site: string;
  status: string;
  firmwareVersion: string | null;
  minimumVersion: string;
  security: boolean;
}

const MIGRATIONS = [
  `CREATE TABLE minimum_versions (
     kind TEXT PRIMARY KEY,
     version TEXT NOT NULL,
     security INTEGER NOT NULL,
     advisory TEXT,
     set_at TEXT NOT NULL,
     set_by TEXT NOT NULL
   );`,
];

interface Row { kind: string; version: string; security: number; advisory: string | null; set_at: string; set_by: string }
const toMin = (r: Row): MinimumVersion => ({ kind: r.kind as KindSlug, version: r.version, security: r.security === 1, advisory: r.advisory, setAt: r.set_at, setBy: r.set_by });

export class UpdatePolicy {
  readonly #db: Database.Database;

  constructor(private readonly o: { file: string; devices: DeviceRepository; now?: () => number }) {
    this.#db = openMigratedDb(o.file, MIGRATIONS, 'update policy');
  }

  set(m: Omit<MinimumVersion, 'setAt'>): MinimumVersion {
    const at = new Date((this.o.now ?? Date.now)()).toISOString();
    wrapDb('setting a minimum firmware version', () => this.#db.prepare(
      `INSERT INTO minimum_versions (kind, version, security, advisory, set_at, set_by) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (kind) DO UPDATE SET version = excluded.version, security = excluded.security, advisory = excluded.advisory, set_at = excluded.set_at, set_by = excluded.set_by`,
    ).run(m.kind, m.version, m.security ? 1 : 0, m.advisory, at, m.setBy));
    return { ...m, setAt: at };
  }

  clear(kind: KindSlug): boolean {
    return wrapDb('clearing a minimum firmware version', () => this.#db.prepare('DELETE FROM minimum_versions WHERE kind = ?').run(kind).changes === 1);
  }

  list(): MinimumVersion[] {
    return wrapDb('listing minimum firmware versions', () => (this.#db.prepare('SELECT * FROM minimum_versions ORDER BY kind').all() as Row[]).map(toMin));
  }

  /** Devices below their kind's minimum, disabled ones left out (they cannot update and are
   * not in service). A device that reports no version is below: it cannot show it is not. */
  async required(): Promise<UpdateRequired[]> {
    const out: UpdateRequired[] = [];
    for (const min of this.list()) {
      for (let offset = 0; ; offset += 1000) {
        const page = await this.o.devices.list({ kind: min.kind, limit: 1000, offset });
        for (const d of page.items) {
          if (d.status === 'disabled') continue;
          if (d.firmwareVersion !== null && compareSemver(d.firmwareVersion, min.version) >= 0) continue;
          out.push({ id: d.id, kind: d.kind as KindSlug, site: d.site, status: d.status, firmwareVersion: d.firmwareVersion, minimumVersion: min.version, security: min.security });
        }
        if (page.items.length < 1000) break;
      }
    }
    return out;
  }

  close(): void {
    this.#db.close();
  }
}
