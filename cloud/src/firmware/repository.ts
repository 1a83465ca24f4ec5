import type Database from 'better-sqlite3';
import { openMigratedDb, wrapDb } from '../repositories/sqlite.js';
import { settle } from '../db/settle.js';
import { CloudError, CloudErrorCode } from '../errors.js';
import { DEFAULT_POLICY, type CampaignPolicy, type CampaignState, type DeviceRollout, type RolloutStatus } from './engine.js';

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE firmware (
     id TEXT PRIMARY KEY, kind TEXT NOT NULL, version TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
     key_id TEXT NOT NULL, signature TEXT NOT NULL, created_at INTEGER NOT NULL, UNIQUE (kind, version)
   ) STRICT;
   CREATE TABLE campaigns (
     id TEXT PRIMARY KEY, firmware_id TEXT NOT NULL REFERENCES firmware (id), target TEXT NOT NULL,
     policy TEXT NOT NULL, state TEXT NOT NULL, status TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX campaigns_status ON campaigns (status);
   CREATE TABLE rollouts (
     campaign_id TEXT NOT NULL REFERENCES campaigns (id), device_id TEXT NOT NULL, status TEXT NOT NULL, data TEXT NOT NULL,
     PRIMARY KEY (campaign_id, device_id)
   ) STRICT;
   CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;`,
  // How many of a device's offers were acknowledged by the broker (a runner taking over
  // re-sends only the ones that were not).
  'ALTER TABLE rollouts ADD COLUMN published_offers INTEGER NOT NULL DEFAULT 0;',
];

export interface FirmwareRecord {
  id: string;
  kind: string;
  version: string;
  /** hex */
  sha256: string;
  size: number;
  keyId: string;
  /** base64 Ed25519 over the raw SHA-256 digest */
  signature: string;
  createdAt: number;
}

export interface CampaignTarget {
  kind: string;
  sites?: string[];
  fromVersions?: string[];
}

export interface CampaignRecord {
  id: string;
  firmwareId: string;
  target: CampaignTarget;
  policy: CampaignPolicy;
  state: CampaignState;
  createdAt: number;
  updatedAt: number;
}

export type Row = Record<string, unknown>;

export const toFirmware = (r: Row): FirmwareRecord => ({
  id: r.id as string, kind: r.kind as string, version: r.version as string, sha256: r.sha256 as string,
  size: r.size as number, keyId: r.key_id as string, signature: r.signature as string, createdAt: r.created_at as number,
});
export const toCampaign = (r: Row): CampaignRecord => ({
  id: r.id as string, firmwareId: r.firmware_id as string, target: JSON.parse(r.target as string) as CampaignTarget,
  // Campaigns stored before a policy field existed get its default.
  policy: { ...DEFAULT_POLICY, ...(JSON.parse(r.policy as string) as CampaignPolicy) }, state: JSON.parse(r.state as string) as CampaignState,
  createdAt: r.created_at as number, updatedAt: r.updated_at as number,
});


/**
 * Firmware metadata, campaigns and per-device rollouts: their own SQLite file
 * (firmware.sqlite, SqliteFirmwareRepository) or the `firmware` schema in PostgreSQL
 * (PgFirmwareRepository). Each runner decision is saved in one transaction, so a crash
 * never leaves half a decision stored. Contract: cloud/test/firmware-repository-contract.test.ts.
 */
export interface FirmwareRepository {
  /** The download-token key as releases before the key file kept it (token-key.ts moves it out). */
  legacyTokenSecret(): Promise<Buffer | undefined>;
  dropLegacyTokenSecret(): Promise<void>;
  /** Duplicate (CloudError) for a kind and version stored already. */
  insertFirmware(f: FirmwareRecord): Promise<void>;
  getFirmware(id: string): Promise<FirmwareRecord | undefined>;
  listFirmware(kind?: string): Promise<FirmwareRecord[]>;
  createCampaign(c: CampaignRecord, rollouts: readonly DeviceRollout[]): Promise<void>;
  getCampaign(id: string): Promise<CampaignRecord | undefined>;
  listCampaigns(statuses?: readonly string[]): Promise<CampaignRecord[]>;
  rollouts(campaignId: string): Promise<DeviceRollout[]>;
  rollout(campaignId: string, deviceId: string): Promise<DeviceRollout | undefined>;
  statusCounts(campaignId: string): Promise<Partial<Record<RolloutStatus, number>>>;
  /** One decision, atomically: the campaign's new state and the rollouts it changed. */
  saveStep(campaignId: string, state: CampaignState | undefined, changed: readonly DeviceRollout[], now: number): Promise<void>;
  /** The broker acknowledged the device's offer number `offers` (never lowers it). */
  markPublished(campaignId: string, deviceId: string, offers: number): Promise<void>;
  /** device id → offers acknowledged by the broker (devices with none are left out) */
  publishedOffers(campaignId: string): Promise<Map<string, number>>;
  close(): Promise<void>;
}

export class SqliteFirmwareRepository implements FirmwareRepository {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = openMigratedDb(file, MIGRATIONS, 'firmware');
  }

  legacyTokenSecret(): Promise<Buffer | undefined> { return settle(() => this.legacyTokenSecretSync()); }
  dropLegacyTokenSecret(): Promise<void> { return settle(() => this.dropLegacyTokenSecretSync()); }
  insertFirmware(f: FirmwareRecord): Promise<void> { return settle(() => this.insertFirmwareSync(f)); }
  getFirmware(id: string): Promise<FirmwareRecord | undefined> { return settle(() => this.getFirmwareSync(id)); }
  listFirmware(kind?: string): Promise<FirmwareRecord[]> { return settle(() => this.listFirmwareSync(kind)); }
  createCampaign(c: CampaignRecord, rollouts: readonly DeviceRollout[]): Promise<void> { return settle(() => this.createCampaignSync(c, rollouts)); }
  getCampaign(id: string): Promise<CampaignRecord | undefined> { return settle(() => this.getCampaignSync(id)); }
  listCampaigns(statuses?: readonly string[]): Promise<CampaignRecord[]> { return settle(() => this.listCampaignsSync(statuses)); }
  rollouts(campaignId: string): Promise<DeviceRollout[]> { return settle(() => this.rolloutsSync(campaignId)); }
  rollout(campaignId: string, deviceId: string): Promise<DeviceRollout | undefined> { return settle(() => this.rolloutSync(campaignId, deviceId)); }
  statusCounts(campaignId: string): Promise<Partial<Record<RolloutStatus, number>>> { return settle(() => this.statusCountsSync(campaignId)); }
  saveStep(campaignId: string, state: CampaignState | undefined, changed: readonly DeviceRollout[], now: number): Promise<void> {
    return settle(() => this.saveStepSync(campaignId, state, changed, now));
  }
  markPublished(campaignId: string, deviceId: string, offers: number): Promise<void> {
    return settle(() => {
      wrapDb('recording a sent offer', () => this.db.prepare('UPDATE rollouts SET published_offers = MAX(published_offers, ?) WHERE campaign_id = ? AND device_id = ?')
        .run(offers, campaignId, deviceId));
    });
  }
  publishedOffers(campaignId: string): Promise<Map<string, number>> {
    return settle(() => new Map(wrapDb('reading sent offers', () =>
      (this.db.prepare('SELECT device_id, published_offers FROM rollouts WHERE campaign_id = ? AND published_offers > 0').all(campaignId) as Row[])
        .map((r) => [r.device_id as string, r.published_offers as number] as const))));
  }
  close(): Promise<void> { return settle(() => { if (this.db.open) this.db.close(); }); }

  private legacyTokenSecretSync(): Buffer | undefined {
    return wrapDb('reading the token secret', () => {
      const row = this.db.prepare("SELECT value FROM settings WHERE key = 'download-token-secret'").get() as Row | undefined;
      return row ? Buffer.from(row.value as string, 'base64') : undefined;
    });
  }

  private dropLegacyTokenSecretSync(): void {
    wrapDb('removing the token secret', () => {
      this.db.prepare("DELETE FROM settings WHERE key = 'download-token-secret'").run();
      // the deleted row's bytes must not linger in free pages of the file
      this.db.exec('VACUUM');
    });
  }

  private insertFirmwareSync(f: FirmwareRecord): void {
    wrapDb('storing firmware metadata', () => {
      try {
        this.db.prepare(
          `INSERT INTO firmware (id, kind, version, sha256, size, key_id, signature, created_at)
           VALUES (@id, @kind, @version, @sha256, @size, @keyId, @signature, @createdAt)`,
        ).run(f);
      } catch (err) {
        if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
          throw new CloudError(CloudErrorCode.Duplicate, `firmware ${f.kind} ${f.version} already exists`, { cause: err });
        }
        throw err;
      }
    });
  }

  private getFirmwareSync(id: string): FirmwareRecord | undefined {
    const r = wrapDb('reading firmware', () => this.db.prepare('SELECT * FROM firmware WHERE id = ?').get(id) as Row | undefined);
    return r && toFirmware(r);
  }

  private listFirmwareSync(kind?: string): FirmwareRecord[] {
    return wrapDb('listing firmware', () =>
      (kind === undefined
        ? this.db.prepare('SELECT * FROM firmware ORDER BY created_at DESC, id').all()
        : this.db.prepare('SELECT * FROM firmware WHERE kind = ? ORDER BY created_at DESC, id').all(kind)) as Row[],
    ).map(toFirmware);
  }

  private createCampaignSync(c: CampaignRecord, rollouts: readonly DeviceRollout[]): void {
    wrapDb('creating a campaign', () => this.db.transaction(() => {
      this.db.prepare(
        `INSERT INTO campaigns (id, firmware_id, target, policy, state, status, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(c.id, c.firmwareId, JSON.stringify(c.target), JSON.stringify(c.policy), JSON.stringify(c.state), c.state.status, c.createdAt, c.updatedAt);
      this.putRollouts(c.id, rollouts);
    })());
  }

  private getCampaignSync(id: string): CampaignRecord | undefined {
    const r = wrapDb('reading a campaign', () => this.db.prepare('SELECT * FROM campaigns WHERE id = ?').get(id) as Row | undefined);
    return r && toCampaign(r);
  }

  private listCampaignsSync(statuses?: readonly string[]): CampaignRecord[] {
    const rows = wrapDb('listing campaigns', () => this.db.prepare('SELECT * FROM campaigns ORDER BY created_at, id').all() as Row[]);
    return rows.map(toCampaign).filter((c) => !statuses || statuses.includes(c.state.status));
  }

  private rolloutsSync(campaignId: string): DeviceRollout[] {
    return wrapDb('reading rollouts', () =>
      (this.db.prepare('SELECT data FROM rollouts WHERE campaign_id = ? ORDER BY device_id').all(campaignId) as Row[])
        .map((r) => JSON.parse(r.data as string) as DeviceRollout));
  }

  private rolloutSync(campaignId: string, deviceId: string): DeviceRollout | undefined {
    const r = wrapDb('reading a rollout', () =>
      this.db.prepare('SELECT data FROM rollouts WHERE campaign_id = ? AND device_id = ?').get(campaignId, deviceId) as Row | undefined);
    return r && (JSON.parse(r.data as string) as DeviceRollout);
  }

  private statusCountsSync(campaignId: string): Partial<Record<RolloutStatus, number>> {
    const rows = wrapDb('counting rollouts', () =>
      this.db.prepare('SELECT status, COUNT(*) AS n FROM rollouts WHERE campaign_id = ? GROUP BY status').all(campaignId) as Row[]);
    return Object.fromEntries(rows.map((r) => [r.status as string, r.n as number]));
  }

  private saveStepSync(campaignId: string, state: CampaignState | undefined, changed: readonly DeviceRollout[], now: number): void {
    wrapDb('saving a campaign step', () => this.db.transaction(() => {
      if (state) {
        this.db.prepare('UPDATE campaigns SET state = ?, status = ?, updated_at = ? WHERE id = ?')
          .run(JSON.stringify(state), state.status, now, campaignId);
      }
      this.putRollouts(campaignId, changed);
    })());
  }

  private putRollouts(campaignId: string, rollouts: readonly DeviceRollout[]): void {
    const stmt = this.db.prepare(
      `INSERT INTO rollouts (campaign_id, device_id, status, data) VALUES (?, ?, ?, ?)
       ON CONFLICT (campaign_id, device_id) DO UPDATE SET status = excluded.status, data = excluded.data`,
    );
    for (const d of rollouts) stmt.run(campaignId, d.deviceId, d.status, JSON.stringify(d));
  }
}
