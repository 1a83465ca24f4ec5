import { DEVICE_COLUMNS, SITE_COLUMNS, toDeviceRecord, toSite, type DeviceRow, type SiteRow } from './device-rows.js';
import type { KindSlug } from '@yulan/protos';
import { CloudError, CloudErrorCode } from '../errors.js';
import { isUniqueViolation, type PostgresDatabase } from '../db/postgres.js';
import { PG_FLEET_INDEXES, pgFleetCounts, pgFleetPage } from './pg-fleet.js';
import {
  DeviceStatus,
  type DeviceFilter,
  type DevicePage,
  type DeviceRecord,
  type DeviceRepository,
  type FleetCounts,
  type FleetQuery,
  type NewDevice,
  type NewSite,
  type PresenceUpdate,
  type SiteRecord,
} from './device-repository.js';

/**
 * The device registry in PostgreSQL (schema `registry`): the same tables and rules as
 * sqlite-device-repository.ts, for several cloud processes on one database. What SQLite got
 * from being the only writer is here in the statements themselves: a duplicate id is the
 * primary key's refusal (whichever cloud inserts second gets E_DUPLICATE), and presence is
 * one conditional UPDATE per batch whose CASEs read the row as it is when the row lock is
 * taken, so two clouds applying presence at once can never move a device back to an older
 * state. Text columns use the "C" collation so ordering matches SQLite's byte order.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE SCHEMA IF NOT EXISTS registry;
   CREATE TABLE registry.devices (
     id text COLLATE "C" PRIMARY KEY,
     site text COLLATE "C" NOT NULL,
     kind text COLLATE "C" NOT NULL,
     name text COLLATE "C",
     firmware_version text COLLATE "C",
     firmware_updates text NOT NULL DEFAULT 'ota' CHECK (firmware_updates IN ('ota', 'none')),
     secret_hash text NOT NULL,
     online boolean NOT NULL DEFAULT false,
     disabled boolean NOT NULL DEFAULT false,
     last_seen bigint,
     presence_ts bigint,
     created_at bigint NOT NULL
   );
   CREATE INDEX devices_site_kind ON registry.devices (site, kind, id);
   CREATE TABLE registry.settings (key text PRIMARY KEY, value text NOT NULL);
   CREATE TABLE registry.sites (
     id text COLLATE "C" PRIMARY KEY,
     name_zh text NOT NULL,
     name_en text NOT NULL,
     lat double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
     lon double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
     created_at bigint NOT NULL
   );
   ${PG_FLEET_INDEXES}`,
];


/**
 * Folds a batch into one update per device exactly as applying it in order would: the
 * online state and firmware of the newest update (a later one wins a tie), the newest
 * time. One row per device lets the batch be a single UPDATE … FROM unnest(…).
 */
export function foldPresence(updates: readonly PresenceUpdate[]): { ids: string[]; online: boolean[]; ts: number[]; fw: (string | null)[] } {
  const by = new Map<string, { online: boolean; ts: number; fw: string | null }>();
  for (const u of updates) {
    const fw = u.firmwareVersion ? u.firmwareVersion : null;
    const prev = by.get(u.deviceId);
    if (!prev) by.set(u.deviceId, { online: u.online, ts: u.ts, fw });
    else if (u.ts >= prev.ts) by.set(u.deviceId, { online: u.online, ts: u.ts, fw: fw ?? prev.fw });
  }
  const ids = [...by.keys()].sort();
  return { ids, online: ids.map((i) => by.get(i)!.online), ts: ids.map((i) => by.get(i)!.ts), fw: ids.map((i) => by.get(i)!.fw) };
}

export interface PgRepositoryOptions {
  db: PostgresDatabase;
  now?: () => number;
}

export class PgDeviceRepository implements DeviceRepository {
  private readonly db: PostgresDatabase;
  private readonly now: () => number;
  private closed = false;

  private constructor(opts: PgRepositoryOptions) {
    this.db = opts.db;
    this.now = opts.now ?? Date.now;
  }

  /** Migrates the `registry` schema (advisory-locked: two clouds starting at once migrate once). */
  static async open(opts: PgRepositoryOptions): Promise<PgDeviceRepository> {
    await opts.db.migrate('registry', MIGRATIONS);
    return new PgDeviceRepository(opts);
  }

  async create(d: NewDevice): Promise<DeviceRecord> {
    try {
      const r = await this.db.query<DeviceRow>('creating a device',
        `INSERT INTO registry.devices (id, site, kind, name, firmware_version, firmware_updates, secret_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${DEVICE_COLUMNS}`,
        [d.id, d.site, d.kind, d.name ?? null, d.firmwareVersion ?? null, d.firmwareUpdates ?? 'ota', d.secretHash, this.now()]);
      return toDeviceRecord(r.rows[0]!);
    } catch (err) {
      if (isUniqueViolation(err)) throw new CloudError(CloudErrorCode.Duplicate, `device "${d.id}" already exists`, { cause: err });
      throw err;
    }
  }

  async createSite(site: NewSite): Promise<SiteRecord> {
    try {
      const r = await this.db.query<SiteRow>('creating a site',
        `INSERT INTO registry.sites (id, name_zh, name_en, lat, lon, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${SITE_COLUMNS}`,
        [site.id, site.nameZh, site.nameEn, site.lat, site.lon, this.now()]);
      return toSite(r.rows[0]!);
    } catch (err) {
      if (isUniqueViolation(err)) throw new CloudError(CloudErrorCode.Duplicate, `site "${site.id}" already exists`, { cause: err });
      throw err;
    }
  }

  async getSite(id: string): Promise<SiteRecord | undefined> {
    const r = await this.db.query<SiteRow>('reading a site', `SELECT ${SITE_COLUMNS} FROM registry.sites WHERE id = $1`, [id]);
    return r.rows[0] ? toSite(r.rows[0]) : undefined;
  }

  async listSites(): Promise<SiteRecord[]> {
    return (await this.db.query<SiteRow>('listing sites', `SELECT ${SITE_COLUMNS} FROM registry.sites ORDER BY id`)).rows.map(toSite);
  }

  async get(id: string): Promise<DeviceRecord | undefined> {
    const r = await this.db.query<DeviceRow>('reading a device', `SELECT ${DEVICE_COLUMNS} FROM registry.devices WHERE id = $1`, [id]);
    return r.rows[0] ? toDeviceRecord(r.rows[0]) : undefined;
  }

  async getSecretHash(id: string): Promise<{ device: DeviceRecord; secretHash: string } | undefined> {
    const r = await this.db.query<DeviceRow & { secret_hash: string }>('reading device credentials',
      `SELECT ${DEVICE_COLUMNS}, secret_hash FROM registry.devices WHERE id = $1`, [id]);
    const row = r.rows[0];
    return row ? { device: toDeviceRecord(row), secretHash: row.secret_hash } : undefined;
  }

  async list(f: DeviceFilter): Promise<DevicePage> {
    const where: string[] = [];
    const values: unknown[] = [];
    if (f.site !== undefined) (values.push(f.site), where.push(`site = $${values.length}`));
    if (f.kind !== undefined) (values.push(f.kind), where.push(`kind = $${values.length}`));
    if (f.status === DeviceStatus.Disabled) where.push('disabled');
    if (f.status === DeviceStatus.Online) where.push('NOT disabled AND online');
    if (f.status === DeviceStatus.Offline) where.push('NOT disabled AND NOT online');
    const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    // One snapshot for the count and the page, so total and items agree.
    return this.db.tx('listing devices', async (sql) => {
      const total = (await sql.query<{ n: number }>(`SELECT COUNT(*)::int8 AS n FROM registry.devices ${clause}`, values)).rows[0]?.n ?? 0;
      const n = values.length;
      const rows = (await sql.query<DeviceRow>(
        `SELECT ${DEVICE_COLUMNS} FROM registry.devices ${clause} ORDER BY site, kind, id LIMIT $${n + 1} OFFSET $${n + 2}`,
        [...values, f.limit, f.offset])).rows;
      return { items: rows.map(toDeviceRecord), total };
    }, 'repeatable read');
  }

  async fleet(q: FleetQuery): Promise<DevicePage> {
    return this.db.tx('listing the fleet', (sql) => pgFleetPage(sql, DEVICE_COLUMNS, toDeviceRecord, q), 'repeatable read');
  }

  async fleetCounts(faultedIds?: readonly string[]): Promise<FleetCounts> {
    return this.db.tx('counting the fleet', (sql) => pgFleetCounts(sql, this.now(), faultedIds), 'repeatable read');
  }

  async setSecretHash(id: string, secretHash: string): Promise<DeviceRecord | undefined> {
    const r = await this.db.query<DeviceRow>('rotating a device secret',
      `UPDATE registry.devices SET secret_hash = $2 WHERE id = $1 RETURNING ${DEVICE_COLUMNS}`, [id, secretHash]);
    return r.rows[0] ? toDeviceRecord(r.rows[0]) : undefined;
  }

  async setDisabled(id: string, disabled: boolean): Promise<DeviceRecord | undefined> {
    const r = await this.db.query<DeviceRow>('updating a device',
      `UPDATE registry.devices SET disabled = $2 WHERE id = $1 RETURNING ${DEVICE_COLUMNS}`, [id, disabled]);
    return r.rows[0] ? toDeviceRecord(r.rows[0]) : undefined;
  }

  /**
   * One UPDATE per batch whose CASEs decide against the row as it is once locked (under
   * READ COMMITTED a waiting UPDATE re-reads the newest version), so the "older presence
   * never wins" rule holds with two clouds applying at once, without a read-then-write.
   */
  async applyPresence(updates: readonly PresenceUpdate[]): Promise<number> {
    if (updates.length === 0) return 0;
    const b = foldPresence(updates);
    const r = await this.db.tx('applying presence', async (sql) => {
      // DeviceRow locks first, in id order: two clouds applying overlapping batches then queue
      // behind each other instead of deadlocking (the UPDATE's own lock order is the plan's).
      await sql.query('SELECT id FROM registry.devices WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE', [b.ids]);
      return sql.query<{ id: string }>(
      `UPDATE registry.devices d SET
         online = CASE WHEN d.presence_ts IS NULL OR u.ts >= d.presence_ts THEN u.online ELSE d.online END,
         presence_ts = GREATEST(COALESCE(d.presence_ts, 0), u.ts),
         last_seen = GREATEST(COALESCE(d.last_seen, 0), u.ts),
         firmware_version = CASE WHEN u.fw IS NOT NULL AND (d.presence_ts IS NULL OR u.ts >= d.presence_ts)
                                 THEN u.fw ELSE d.firmware_version END
       FROM unnest($1::text[], $2::boolean[], $3::int8[], $4::text[]) AS u(id, online, ts, fw)
       WHERE d.id = u.id
       RETURNING d.id`,
      [b.ids, b.online, b.ts, b.fw]);
    });
    // Counted per update, as SQLite counts each update that matched a known device.
    const known = new Set(r.rows.map((x) => x.id));
    return updates.filter((u) => known.has(u.deviceId)).length;
  }

  async getSetting(key: string): Promise<string | undefined> {
    const r = await this.db.query<{ value: string }>('reading a setting', 'SELECT value FROM registry.settings WHERE key = $1', [key]);
    return r.rows[0]?.value;
  }

  async setSetting(key: string, value: string): Promise<void> {
    await this.db.query('writing a setting',
      'INSERT INTO registry.settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value', [key, value]);
  }

  async setSettingIfAbsent(key: string, value: string): Promise<string> {
    // ON CONFLICT DO NOTHING returns no row when another cloud stored first; then theirs is read.
    const r = await this.db.query<{ value: string }>('writing a setting',
      'INSERT INTO registry.settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING value', [key, value]);
    if (r.rows[0]) return r.rows[0].value;
    const stored = await this.getSetting(key);
    if (stored === undefined) throw new CloudError(CloudErrorCode.Database, `setting "${key}" vanished while being written`);
    return stored;
  }

  async ping(): Promise<boolean> {
    if (this.closed) return false;
    try {
      return (await this.db.query('ping', 'SELECT 1 AS ok')).rowCount === 1;
    } catch {
      return false;
    }
  }

  /** The pool is the cloud's, shared by every store: closing the registry does not end it. */
  async close(): Promise<void> {
    this.closed = true;
  }
}
