import type { KindSlug } from '@yulan/protos';

/**
 * Storage contract of the device registry. Async on purpose: the SQLite implementation
 * is synchronous underneath, but a PostgreSQL one will not be, and callers must not care.
 * `test/device-repository.contract.ts` is the behaviour every implementation must pass.
 */
export const DeviceStatus = { Online: 'online', Offline: 'offline', Disabled: 'disabled' } as const;
export type DeviceStatus = (typeof DeviceStatus)[keyof typeof DeviceStatus];

export type FirmwareUpdates = 'ota' | 'none';

export interface DeviceRecord {
  id: string;
  site: string;
  kind: KindSlug;
  name: string | null;
  firmwareVersion: string | null;
  /** 'ota': takes firmware campaigns; 'none': updated offline only (campaigns leave it out) */
  firmwareUpdates: FirmwareUpdates;
  /** disabled wins over online/offline */
  status: DeviceStatus;
  /** epoch ms of the newest presence seen, or null */
  lastSeen: number | null;
  /** epoch ms */
  createdAt: number;
}

export interface NewDevice {
  id: string;
  site: string;
  kind: KindSlug;
  name?: string | null;
  firmwareVersion?: string | null;
  firmwareUpdates?: FirmwareUpdates;
  /** `hashSecret()` output; the plain secret never reaches storage */
  secretHash: string;
}

export interface DeviceFilter {
  site?: string;
  kind?: KindSlug;
  status?: DeviceStatus;
  limit: number;
  offset: number;
}

/** The console's fleet table (issue 15): filters, substring search, one sort key. */
export interface FleetQuery {
  site?: string;
  kind?: KindSlug;
  status?: DeviceStatus;
  firmware?: string;
  /** case-insensitive substring of the id or the name */
  text?: string;
  /** only these devices (the console's "faulted" filter: the edge's faulted set) */
  ids?: readonly string[];
  sort: 'id' | 'site' | 'kind' | 'status' | 'firmware' | 'lastSeen';
  order: 'asc' | 'desc';
  limit: number;
  offset: number;
}

export interface FleetCounts {
  /** faulted: enabled devices among the ids given to fleetCounts (0 when none given) */
  bySiteKind: { site: string; kind: KindSlug; online: number; offline: number; disabled: number; faulted: number; total: number }[];
  /** presence changes (newest state per device) and registrations in the last hour */
  lastHour: { wentOnline: number; wentOffline: number; registered: number };
}

export interface DevicePage {
  items: DeviceRecord[];
  /** number of devices matching the filter, ignoring limit/offset */
  total: number;
}

export interface PresenceUpdate {
  deviceId: string;
  online: boolean;
  /** epoch ms the presence refers to */
  ts: number;
  /** empty/undefined leaves the stored version unchanged */
  firmwareVersion?: string;
}

/** A place devices are installed at: the unit air quality is published for. Coordinates
 * are WGS 84 (EPSG:4326), as GeoJSON and OGC SensorThings expect. */
export interface SiteRecord {
  id: string;
  nameZh: string;
  nameEn: string;
  /** degrees, -90..90 */
  lat: number;
  /** degrees, -180..180 */
  lon: number;
  /** epoch ms */
  createdAt: number;
}

export type NewSite = Omit<SiteRecord, 'createdAt'>;

export interface DeviceRepository {
  /** @throws CloudError E_DUPLICATE when the site id exists */
  createSite(site: NewSite): Promise<SiteRecord>;
  getSite(id: string): Promise<SiteRecord | undefined>;
  /** Ordered by id. */
  listSites(): Promise<SiteRecord[]>;
  /** @throws CloudError E_DUPLICATE when the id exists */
  create(device: NewDevice): Promise<DeviceRecord>;
  get(id: string): Promise<DeviceRecord | undefined>;
  /** The stored secret hash, for device authentication only. */
  getSecretHash(id: string): Promise<{ device: DeviceRecord; secretHash: string } | undefined>;
  /** Ordered by site, kind, id so pages are stable. */
  list(filter: DeviceFilter): Promise<DevicePage>;
  /** The console's fleet page, answered from indexes. */
  fleet(query: FleetQuery): Promise<DevicePage>;
  /** Devices per site and kind by state, and what changed in the last hour; `faultedIds`
   * (the edge's faulted set) are counted as `faulted` where registered and enabled. */
  fleetCounts(faultedIds?: readonly string[]): Promise<FleetCounts>;
  /** Replaces the secret hash (rotation). @returns the device, or undefined for an unknown id */
  setSecretHash(id: string, secretHash: string): Promise<DeviceRecord | undefined>;
  /** @returns the updated device, or undefined for an unknown id */
  setDisabled(id: string, disabled: boolean): Promise<DeviceRecord | undefined>;
  /**
   * Applies a batch of presence updates in one write. Unknown ids are ignored; an
   * update older than the newest one already applied to a device does not change its
   * online state (retained messages can arrive late), but can never move lastSeen back.
   * @returns how many updates matched a known device
   */
  applyPresence(updates: readonly PresenceUpdate[]): Promise<number>;
  /** Settings (e.g. the admin token digest): small opaque strings by key. */
  getSetting(key: string): Promise<string | undefined>;
  setSetting(key: string, value: string): Promise<void>;
  /** Stores `value` only if `key` has none: of two clouds doing this at once exactly one
   * stores. @returns the value stored now (this one, or the one that was there first) */
  setSettingIfAbsent(key: string, value: string): Promise<string>;
  /** Cheap liveness probe for /healthz. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
