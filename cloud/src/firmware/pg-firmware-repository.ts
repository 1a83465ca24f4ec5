import { isUniqueViolation, type PostgresDatabase, type Sql } from '../db/postgres.js';
import { CloudError, CloudErrorCode } from '../errors.js';
import { DEFAULT_POLICY, type CampaignPolicy, type CampaignState, type DeviceRollout, type RolloutStatus } from './engine.js';
import { toFirmware, type CampaignRecord, type CampaignTarget, type FirmwareRecord, type FirmwareRepository, type Row } from './repository.js';

const MIGRATIONS: readonly string[] = [
  `CREATE SCHEMA IF NOT EXISTS firmware;
   CREATE TABLE firmware.images (
     id text PRIMARY KEY, kind text NOT NULL, version text NOT NULL, sha256 text NOT NULL, size bigint NOT NULL,
     key_id text NOT NULL, signature text NOT NULL, created_at bigint NOT NULL, UNIQUE (kind, version)
   );
   CREATE TABLE firmware.campaigns (
     id text PRIMARY KEY, firmware_id text NOT NULL REFERENCES firmware.images (id), target jsonb NOT NULL,
     policy jsonb NOT NULL, state jsonb NOT NULL, status text NOT NULL, created_at bigint NOT NULL, updated_at bigint NOT NULL
   );
   CREATE INDEX campaigns_status ON firmware.campaigns (status);
   CREATE TABLE firmware.rollouts (
     campaign_id text NOT NULL REFERENCES firmware.campaigns (id), device_id text NOT NULL, status text NOT NULL, data jsonb NOT NULL,
     published_offers integer NOT NULL DEFAULT 0,
     PRIMARY KEY (campaign_id, device_id)
   );`,
];

const toCampaign = (r: Row): CampaignRecord => ({
  id: r.id as string, firmwareId: r.firmware_id as string, target: r.target as CampaignTarget,
  policy: { ...DEFAULT_POLICY, ...(r.policy as CampaignPolicy) }, state: r.state as CampaignState,
  createdAt: r.created_at as number, updatedAt: r.updated_at as number,
});

/**
 * Firmware metadata, campaigns and rollouts in PostgreSQL (schema `firmware`). A campaign's
 * runner runs on one cloud at a time (the `firmware-campaigns` lease, runner.ts); what it
 * decided and which offers the broker acknowledged are here, so a cloud taking the lease
 * over resumes from them. Images themselves stay files (images.ts).
 */
export class PgFirmwareRepository implements FirmwareRepository {
  private constructor(private readonly db: PostgresDatabase) {}

  static async open(db: PostgresDatabase): Promise<PgFirmwareRepository> {
    await db.migrate('firmware', MIGRATIONS);
    return new PgFirmwareRepository(db);
  }

  /** Only SQLite files of old releases held the token key. */
  async legacyTokenSecret(): Promise<Buffer | undefined> { return undefined; }
  async dropLegacyTokenSecret(): Promise<void> {}

  async insertFirmware(f: FirmwareRecord): Promise<void> {
    try {
      await this.db.query('storing firmware metadata', `INSERT INTO firmware.images (id, kind, version, sha256, size, key_id, signature, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, [f.id, f.kind, f.version, f.sha256, f.size, f.keyId, f.signature, f.createdAt]);
    } catch (err) {
      if (isUniqueViolation(err)) throw new CloudError(CloudErrorCode.Duplicate, `firmware ${f.kind} ${f.version} already exists`, { cause: err });
      throw err;
    }
  }

  async getFirmware(id: string): Promise<FirmwareRecord | undefined> {
    const r = (await this.db.query<Row>('reading firmware', 'SELECT * FROM firmware.images WHERE id = $1', [id])).rows[0];
    return r && toFirmware(r);
  }

  async listFirmware(kind?: string): Promise<FirmwareRecord[]> {
    return (await this.db.query<Row>('listing firmware', `SELECT * FROM firmware.images WHERE ($1::text IS NULL OR kind = $1)
      ORDER BY created_at DESC, id`, [kind ?? null])).rows.map(toFirmware);
  }

  async createCampaign(c: CampaignRecord, rollouts: readonly DeviceRollout[]): Promise<void> {
    await this.db.tx('creating a campaign', async (sql) => {
      await sql.query(`INSERT INTO firmware.campaigns (id, firmware_id, target, policy, state, status, created_at, updated_at)
        VALUES ($1, $2, $3::jsonb, $4::jsonb, $5::jsonb, $6, $7, $8)`,
      [c.id, c.firmwareId, JSON.stringify(c.target), JSON.stringify(c.policy), JSON.stringify(c.state), c.state.status, c.createdAt, c.updatedAt]);
      await putRollouts(sql, c.id, rollouts);
    });
  }

  async getCampaign(id: string): Promise<CampaignRecord | undefined> {
    const r = (await this.db.query<Row>('reading a campaign', 'SELECT * FROM firmware.campaigns WHERE id = $1', [id])).rows[0];
    return r && toCampaign(r);
  }

  async listCampaigns(statuses?: readonly string[]): Promise<CampaignRecord[]> {
    return (await this.db.query<Row>('listing campaigns', `SELECT * FROM firmware.campaigns WHERE ($1::text[] IS NULL OR status = ANY($1))
      ORDER BY created_at, id`, [statuses ? [...statuses] : null])).rows.map(toCampaign);
  }

  async rollouts(campaignId: string): Promise<DeviceRollout[]> {
    return (await this.db.query<{ data: DeviceRollout }>('reading rollouts', 'SELECT data FROM firmware.rollouts WHERE campaign_id = $1 ORDER BY device_id',
      [campaignId])).rows.map((r) => r.data);
  }

  async rollout(campaignId: string, deviceId: string): Promise<DeviceRollout | undefined> {
    return (await this.db.query<{ data: DeviceRollout }>('reading a rollout', 'SELECT data FROM firmware.rollouts WHERE campaign_id = $1 AND device_id = $2',
      [campaignId, deviceId])).rows[0]?.data;
  }

  async statusCounts(campaignId: string): Promise<Partial<Record<RolloutStatus, number>>> {
    const rows = await this.db.query<{ status: string; n: number }>('counting rollouts',
      'SELECT status, count(*)::int AS n FROM firmware.rollouts WHERE campaign_id = $1 GROUP BY status', [campaignId]);
    return Object.fromEntries(rows.rows.map((r) => [r.status, r.n]));
  }

  async saveStep(campaignId: string, state: CampaignState | undefined, changed: readonly DeviceRollout[], now: number): Promise<void> {
    await this.db.tx('saving a campaign step', async (sql) => {
      if (state) {
        await sql.query('UPDATE firmware.campaigns SET state = $1::jsonb, status = $2, updated_at = $3 WHERE id = $4', [JSON.stringify(state), state.status, now, campaignId]);
      }
      await putRollouts(sql, campaignId, changed);
    });
  }

  async markPublished(campaignId: string, deviceId: string, offers: number): Promise<void> {
    await this.db.query('recording a sent offer', `UPDATE firmware.rollouts SET published_offers = GREATEST(published_offers, $1)
      WHERE campaign_id = $2 AND device_id = $3`, [offers, campaignId, deviceId]);
  }

  async publishedOffers(campaignId: string): Promise<Map<string, number>> {
    const rows = await this.db.query<{ device_id: string; published_offers: number }>('reading sent offers',
      'SELECT device_id, published_offers FROM firmware.rollouts WHERE campaign_id = $1 AND published_offers > 0', [campaignId]);
    return new Map(rows.rows.map((r) => [r.device_id, r.published_offers]));
  }

  /** The pool is the cloud's, closed by whoever opened it. */
  async close(): Promise<void> {}
}

/** Upserts in one statement (at fleet scale a step can change thousands of rollouts). */
async function putRollouts(sql: Sql, campaignId: string, rollouts: readonly DeviceRollout[]): Promise<void> {
  if (rollouts.length === 0) return;
  // One row per device (the newest): ON CONFLICT may not touch a row twice in one statement.
  const last = [...new Map(rollouts.map((d) => [d.deviceId, d])).values()];
  await sql.query(`INSERT INTO firmware.rollouts (campaign_id, device_id, status, data)
    SELECT $1, d->>'deviceId', d->>'status', d FROM jsonb_array_elements($2::jsonb) AS d
    ON CONFLICT (campaign_id, device_id) DO UPDATE SET status = EXCLUDED.status, data = EXCLUDED.data`, [campaignId, JSON.stringify(last)]);
}
