import { DEVICE_COLUMNS, toDeviceRecord, toSite, type DeviceRow, type SiteRow } from './device-rows.js';
import type Database from 'better-sqlite3';
import { openMigratedDb, wrapDb } from './sqlite.js';
import type { KindSlug } from '@yulan/protos';
import { CloudError, CloudErrorCode } from '../errors.js';
import { FLEET_INDEXES, fleetCounts, fleetPage } from './sqlite-fleet.js';
import {
  DeviceStatus,
  type DeviceFilter,
  type DevicePage,
  type FleetCounts,
  type FleetQuery,
  type DeviceRecord,
  type DeviceRepository,
  type NewDevice,
  type NewSite,
  type PresenceUpdate,
  type SiteRecord,
} from './device-repository.js';

/** Schema migrations, applied in order; `user_version` records how many ran. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE devices (
     id TEXT PRIMARY KEY,
     site TEXT NOT NULL,
     kind TEXT NOT NULL,
     name TEXT,
     firmware_version TEXT,
     secret_hash TEXT NOT NULL,
     online INTEGER NOT NULL DEFAULT 0,
     disabled INTEGER NOT NULL DEFAULT 0,
     last_seen INTEGER,
     presence_ts INTEGER,
     created_at INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX devices_site_kind ON devices (site, kind, id);
   CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;`,
  // Sites with coordinates and zh/en names (issue 14). Devices reference a site by id
  // without a foreign key: devices registered before their site stay valid.
  `CREATE TABLE sites (
     id TEXT PRIMARY KEY,
     name_zh TEXT NOT NULL,
     name_en TEXT NOT NULL,
     lat REAL NOT NULL CHECK (lat BETWEEN -90 AND 90),
     lon REAL NOT NULL CHECK (lon BETWEEN -180 AND 180),
     created_at INTEGER NOT NULL
   ) STRICT;`,
  // The console's fleet table: filters, sorts and counts from indexes (issue 15).
  FLEET_INDEXES,
  // How a device takes firmware: 'ota' (campaigns) or 'none' (a sensor behind a serial
  // gateway, flashed on the bench with `yulan flash`), which campaigns leave out.
  `ALTER TABLE devices ADD COLUMN firmware_updates TEXT NOT NULL DEFAULT 'ota' CHECK (firmware_updates IN ('ota', 'none'));`,
];



export interface SqliteRepositoryOptions {
  /** file path, or ':memory:' */
  file: string;
  now?: () => number;
}

export class SqliteDeviceRepository implements DeviceRepository {
  private readonly db: Database.Database;
  private readonly now: () => number;
  private readonly stmts;

  constructor(opts: SqliteRepositoryOptions) {
    this.now = opts.now ?? Date.now;
    this.db = openMigratedDb(opts.file, MIGRATIONS, 'registry');
    this.stmts = {
      insert: this.db.prepare(
        `INSERT INTO devices (id, site, kind, name, firmware_version, firmware_updates, secret_hash, created_at)
         VALUES (@id, @site, @kind, @name, @firmwareVersion, @firmwareUpdates, @secretHash, @createdAt)`,
      ),
      get: this.db.prepare(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE id = ?`),
      getHash: this.db.prepare(`SELECT ${DEVICE_COLUMNS}, secret_hash FROM devices WHERE id = ?`),
      setDisabled: this.db.prepare('UPDATE devices SET disabled = ? WHERE id = ?'),
      // Online state follows the newest presence only; lastSeen only ever moves forward.
      presence: this.db.prepare(
        `UPDATE devices SET
           online = CASE WHEN presence_ts IS NULL OR @ts >= presence_ts THEN @online ELSE online END,
           presence_ts = MAX(COALESCE(presence_ts, 0), @ts),
           last_seen = MAX(COALESCE(last_seen, 0), @ts),
           firmware_version = CASE WHEN @fw IS NOT NULL AND (presence_ts IS NULL OR @ts >= presence_ts)
                                   THEN @fw ELSE firmware_version END
         WHERE id = @id`,
      ),
      insertSite: this.db.prepare('INSERT INTO sites (id, name_zh, name_en, lat, lon, created_at) VALUES (@id, @nameZh, @nameEn, @lat, @lon, @createdAt)'),
      getSite: this.db.prepare('SELECT id, name_zh, name_en, lat, lon, created_at FROM sites WHERE id = ?'),
      listSites: this.db.prepare('SELECT id, name_zh, name_en, lat, lon, created_at FROM sites ORDER BY id'),
      getSetting: this.db.prepare('SELECT value FROM settings WHERE key = ?'),
      setSetting: this.db.prepare(
        'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ),
    };
  }

  async create(d: NewDevice): Promise<DeviceRecord> {
    return wrapDb('creating a device', () => {
      try {
        this.stmts.insert.run({
          id: d.id,
          site: d.site,
          kind: d.kind,
          name: d.name ?? null,
          firmwareVersion: d.firmwareVersion ?? null,
          firmwareUpdates: d.firmwareUpdates ?? 'ota',
          secretHash: d.secretHash,
          createdAt: this.now(),
        });
      } catch (err) {
        if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
          throw new CloudError(CloudErrorCode.Duplicate, `device "${d.id}" already exists`, { cause: err });
        }
        throw err;
      }
      return toDeviceRecord(this.stmts.get.get(d.id) as DeviceRow);
    });
  }

  async createSite(site: NewSite): Promise<SiteRecord> {
    return wrapDb('creating a site', () => {
      try {
        this.stmts.insertSite.run({ id: site.id, nameZh: site.nameZh, nameEn: site.nameEn, lat: site.lat, lon: site.lon, createdAt: this.now() });
      } catch (err) {
        if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
          throw new CloudError(CloudErrorCode.Duplicate, `site "${site.id}" already exists`, { cause: err });
        }
        throw err;
      }
      return toSite(this.stmts.getSite.get(site.id) as SiteRow);
    });
  }

  async getSite(id: string): Promise<SiteRecord | undefined> {
    return wrapDb('reading a site', () => {
      const row = this.stmts.getSite.get(id) as SiteRow | undefined;
      return row ? toSite(row) : undefined;
    });
  }

  async listSites(): Promise<SiteRecord[]> {
    return wrapDb('listing sites', () => (this.stmts.listSites.all() as SiteRow[]).map(toSite));
  }

  async get(id: string): Promise<DeviceRecord | undefined> {
    return wrapDb('reading a device', () => {
      const row = this.stmts.get.get(id) as DeviceRow | undefined;
      return row ? toDeviceRecord(row) : undefined;
    });
  }

  async getSecretHash(id: string): Promise<{ device: DeviceRecord; secretHash: string } | undefined> {
    return wrapDb('reading device credentials', () => {
      const row = this.stmts.getHash.get(id) as (DeviceRow & { secret_hash: string }) | undefined;
      return row ? { device: toDeviceRecord(row), secretHash: row.secret_hash } : undefined;
    });
  }

  async list(f: DeviceFilter): Promise<DevicePage> {
    return wrapDb('listing devices', () => {
      const where: string[] = [];
      const params: Record<string, unknown> = { limit: f.limit, offset: f.offset };
      if (f.site !== undefined) (where.push('site = @site'), (params.site = f.site));
      if (f.kind !== undefined) (where.push('kind = @kind'), (params.kind = f.kind));
      if (f.status === DeviceStatus.Disabled) where.push('disabled = 1');
      if (f.status === DeviceStatus.Online) where.push('disabled = 0 AND online = 1');
      if (f.status === DeviceStatus.Offline) where.push('disabled = 0 AND online = 0');
      const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
      const total = (this.db.prepare(`SELECT COUNT(*) AS n FROM devices ${clause}`).get(params) as { n: number }).n;
      const rows = this.db
        .prepare(`SELECT ${DEVICE_COLUMNS} FROM devices ${clause} ORDER BY site, kind, id LIMIT @limit OFFSET @offset`)
        .all(params) as DeviceRow[];
      return { items: rows.map(toDeviceRecord), total };
    });
  }

  async fleet(q: FleetQuery): Promise<DevicePage> {
    return wrapDb('listing the fleet', () => fleetPage(this.db, DEVICE_COLUMNS, toDeviceRecord, q));
  }

  async fleetCounts(faultedIds?: readonly string[]): Promise<FleetCounts> {
    return wrapDb('counting the fleet', () => fleetCounts(this.db, this.now(), faultedIds));
  }

  async setSecretHash(id: string, secretHash: string): Promise<DeviceRecord | undefined> {
    return wrapDb('rotating a device secret', () => {
      const { changes } = this.db.prepare('UPDATE devices SET secret_hash = ? WHERE id = ?').run(secretHash, id);
      return changes === 0 ? undefined : toDeviceRecord(this.stmts.get.get(id) as DeviceRow);
    });
  }

  async setDisabled(id: string, disabled: boolean): Promise<DeviceRecord | undefined> {
    return wrapDb('updating a device', () => {
      const { changes } = this.stmts.setDisabled.run(disabled ? 1 : 0, id);
      return changes === 0 ? undefined : toDeviceRecord(this.stmts.get.get(id) as DeviceRow);
    });
  }

  async applyPresence(updates: readonly PresenceUpdate[]): Promise<number> {
    if (updates.length === 0) return 0;
    return wrapDb('applying presence', () =>
      // One transaction per batch: a presence storm costs one fsync, not one per message.
      this.db.transaction((batch: readonly PresenceUpdate[]) => {
        let matched = 0;
        for (const u of batch) {
          const fw = u.firmwareVersion ? u.firmwareVersion : null;
          matched += this.stmts.presence.run({ id: u.deviceId, online: u.online ? 1 : 0, ts: u.ts, fw }).changes;
        }
        return matched;
      })(updates),
    );
  }

  async getSetting(key: string): Promise<string | undefined> {
    return wrapDb('reading a setting', () => (this.stmts.getSetting.get(key) as { value: string } | undefined)?.value);
  }

  async setSetting(key: string, value: string): Promise<void> {
    wrapDb('writing a setting', () => this.stmts.setSetting.run(key, value));
  }

  async setSettingIfAbsent(key: string, value: string): Promise<string> {
    return wrapDb('writing a setting', () => {
      this.db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING').run(key, value);
      return (this.stmts.getSetting.get(key) as { value: string }).value;
    });
  }

  async ping(): Promise<boolean> {
    try {
      return this.db.open && this.db.prepare('SELECT 1 AS ok').get() !== undefined;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
