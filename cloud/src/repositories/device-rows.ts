import type { KindSlug } from '@yulan/protos';
import { DeviceStatus, type DeviceRecord, type SiteRecord } from './device-repository.js';

/**
 * The registry's row shapes, shared by the SQLite and PostgreSQL repositories: the same
 * columns in both; flags are 0/1 in SQLite and booleans in PostgreSQL.
 */
export interface SiteRow { id: string; name_zh: string; name_en: string; lat: number; lon: number; created_at: number }
export const toSite = (r: SiteRow): SiteRecord => ({ id: r.id, nameZh: r.name_zh, nameEn: r.name_en, lat: r.lat, lon: r.lon, createdAt: r.created_at });
export const SITE_COLUMNS = 'id, name_zh, name_en, lat, lon, created_at';

export interface DeviceRow {
  id: string;
  site: string;
  kind: string;
  name: string | null;
  firmware_version: string | null;
  firmware_updates: string;
  online: number | boolean;
  disabled: number | boolean;
  last_seen: number | null;
  created_at: number;
}

export const DEVICE_COLUMNS = 'id, site, kind, name, firmware_version, firmware_updates, online, disabled, last_seen, created_at';

export function toDeviceRecord(r: DeviceRow): DeviceRecord {
  return {
    id: r.id,
    site: r.site,
    kind: r.kind as KindSlug,
    name: r.name,
    firmwareVersion: r.firmware_version,
    firmwareUpdates: r.firmware_updates === 'none' ? 'none' : 'ota',
    status: r.disabled ? DeviceStatus.Disabled : r.online ? DeviceStatus.Online : DeviceStatus.Offline,
    lastSeen: r.last_seen,
    createdAt: r.created_at,
  };
}
