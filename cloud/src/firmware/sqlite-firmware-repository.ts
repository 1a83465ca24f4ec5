import type Database from 'better-sqlite3';
import { openMigratedDb, wrapDb } from '../repositories/sqlite.js';
import { settle } from '../db/settle.js';
import { CloudError, CloudErrorCode } from '../errors.js';
import { isFinal, type CampaignState, type DeviceRollout, type RolloutStatus } from './engine.js';
import {
  ClaimsConflict, FINAL_STATUSES, LIVE_STATUSES, toCampaign, toClaims, toFirmware,
  type CampaignRecord, type Claims, type Decide, type FirmwareRecord, type FirmwareRepository, type OperateOutcome, type Row,
} from './repository.js';

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
  // Bumped by every write of a campaign's decisions (runner-guard.ts).
  'ALTER TABLE campaigns ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;',
];

/** The firmware store in its own SQLite file (firmware.sqlite); PgFirmwareRepository is its PostgreSQL twin. */
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
  saveStep(campaignId: string, state: CampaignState | undefined, changed: readonly DeviceRollout[], now: number, expectRev?: number): Promise<number | undefined> {
    return settle(() => this.saveStepSync(campaignId, state, changed, now, expectRev));
  }
  claims(deviceIds: readonly string[], except?: string): Promise<Claims> { return settle(() => this.claimsSync(deviceIds, except)); }
  operateCampaign(id: string, decide: Decide, now: number): Promise<OperateOutcome> { return settle(() => this.operateSync(id, decide, now)); }
  revisions(ids: readonly string[]): Promise<Map<string, number>> {
    return settle(() => new Map(wrapDb('reading campaign revisions', () =>
      (this.db.prepare('SELECT id, rev FROM campaigns WHERE id IN (SELECT value FROM json_each(?))').all(JSON.stringify(ids)) as Row[])
        .map((r) => [r.id as string, r.rev as number] as const))));
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
      const claimed = this.claimsSync(rollouts.map((d) => d.deviceId), c.id);
      if (claimed.size > 0) throw new ClaimsConflict(claimed);
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

  private saveStepSync(campaignId: string, state: CampaignState | undefined, changed: readonly DeviceRollout[], now: number, expectRev?: number): number | undefined {
    return wrapDb('saving a campaign step', () => this.db.transaction(() => {
      const guard = expectRev === undefined ? '' : ' AND rev = @expectRev';
      const row = (state
        ? this.db.prepare(`UPDATE campaigns SET state = @state, status = @status, updated_at = @now, rev = rev + 1 WHERE id = @id${guard} RETURNING rev`)
          .get({ state: JSON.stringify(state), status: state.status, now, id: campaignId, expectRev })
        : this.db.prepare(`UPDATE campaigns SET rev = rev + 1 WHERE id = @id${guard} RETURNING rev`).get({ id: campaignId, expectRev })) as Row | undefined;
      if (!row && expectRev !== undefined) return undefined;
      this.putRollouts(campaignId, changed);
      return (row?.rev as number | undefined) ?? 0;
    })());
  }

  private claimsSync(deviceIds: readonly string[], except?: string): Claims {
    if (deviceIds.length === 0) return new Map();
    return toClaims(wrapDb('reading live campaigns\' devices', () => this.db.prepare(
      `SELECT r.campaign_id, r.device_id, f.version FROM campaigns c JOIN rollouts r ON r.campaign_id = c.id JOIN firmware f ON f.id = c.firmware_id
       WHERE c.status IN (SELECT value FROM json_each(@live)) AND r.status NOT IN (SELECT value FROM json_each(@final))
         AND c.id IS NOT @except AND r.device_id IN (SELECT value FROM json_each(@ids))
       ORDER BY c.created_at, c.id, r.device_id`,
    ).all({ live: JSON.stringify(LIVE_STATUSES), final: JSON.stringify(FINAL_STATUSES), except: except ?? null, ids: JSON.stringify(deviceIds) }) as Row[]));
  }

  private operateSync(id: string, decide: Decide, now: number): OperateOutcome {
    return wrapDb('operating a campaign', () => this.db.transaction((): OperateOutcome => {
      const c = this.getCampaignSync(id);
      if (!c) return undefined;
      const rollouts = this.rolloutsSync(id);
      const r = decide(c, rollouts, this.claimsSync(rollouts.filter((d) => !isFinal(d.status)).map((d) => d.deviceId), id));
      if ('error' in r) return r;
      if (r.changed.length === 0 && JSON.stringify(r.campaign) === JSON.stringify(c.state)) return { rec: c };
      const rev = this.saveStepSync(id, r.campaign, r.changed, now, c.rev);
      // not reached under the row lock; said plainly if it ever is
      if (rev === undefined) return { error: 'the campaign changed meanwhile; try again' };
      return { rec: { ...c, state: r.campaign, updatedAt: now, rev } };
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
