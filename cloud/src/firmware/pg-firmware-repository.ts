import { isUniqueViolation, type PostgresDatabase, type Sql } from '../db/postgres.js';
import { CloudError, CloudErrorCode } from '../errors.js';
import { DEFAULT_POLICY, isFinal, type CampaignPolicy, type CampaignState, type DeviceRollout, type RolloutStatus } from './engine.js';
import {
  ClaimsConflict, FINAL_STATUSES, LIVE_STATUSES, toClaims, toFirmware,
  type CampaignRecord, type CampaignTarget, type Claims, type Decide, type FirmwareRecord, type FirmwareRepository, type OperateOutcome, type Row,
} from './repository.js';

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
  // Bumped by every write of a campaign's decisions: the runner's writes are conditional on
  // it, so an operator's action committed through another cloud is never overwritten.
  'ALTER TABLE firmware.campaigns ADD COLUMN rev bigint NOT NULL DEFAULT 0;',
];

/** Taken by every transaction that checks and then changes which devices live campaigns
 * claim (creating, operating): two clouds creating for one device at once → one 409. */
const CLAIMS_LOCK = "SELECT pg_advisory_xact_lock(hashtext('yulan-firmware-claims'))";

const toCampaign = (r: Row): CampaignRecord => ({
  id: r.id as string, firmwareId: r.firmware_id as string, target: r.target as CampaignTarget,
  policy: { ...DEFAULT_POLICY, ...(r.policy as CampaignPolicy) }, state: r.state as CampaignState,
  createdAt: r.created_at as number, updatedAt: r.updated_at as number, rev: r.rev as number,
});

/**
 * Firmware metadata, campaigns and rollouts in PostgreSQL (schema `firmware`). A campaign's
 * runner runs on one cloud at a time (the `firmware-campaigns` lease, lease-handover.ts); what it
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
      await sql.query(CLAIMS_LOCK);
      const claimed = await claimsIn(sql, rollouts.map((d) => d.deviceId), c.id);
      if (claimed.size > 0) throw new ClaimsConflict(claimed);
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

  async saveStep(campaignId: string, state: CampaignState | undefined, changed: readonly DeviceRollout[], now: number, expectRev?: number): Promise<number | undefined> {
    return this.db.tx('saving a campaign step', (sql) => saveIn(sql, campaignId, state, changed, now, expectRev));
  }

  async claims(deviceIds: readonly string[], except?: string): Promise<Claims> {
    return this.db.tx('reading live campaigns\' devices', (sql) => claimsIn(sql, deviceIds, except));
  }

  async operateCampaign(id: string, decide: Decide, now: number): Promise<OperateOutcome> {
    return this.db.tx('operating a campaign', async (sql): Promise<OperateOutcome> => {
      await sql.query(CLAIMS_LOCK);
      const row = (await sql.query<Row>('SELECT * FROM firmware.campaigns WHERE id = $1 FOR UPDATE', [id])).rows[0];
      if (!row) return undefined;
      const c = toCampaign(row);
      const rollouts = (await sql.query<{ data: DeviceRollout }>('SELECT data FROM firmware.rollouts WHERE campaign_id = $1 ORDER BY device_id', [id])).rows.map((r) => r.data);
      const r = decide(c, rollouts, await claimsIn(sql, rollouts.filter((d) => !isFinal(d.status)).map((d) => d.deviceId), id));
      if ('error' in r) return r;
      if (r.changed.length === 0 && JSON.stringify(r.campaign) === JSON.stringify(c.state)) return { rec: c };
      const rev = await saveIn(sql, id, r.campaign, r.changed, now, c.rev);
      // not reached under the row lock; said plainly if it ever is
      if (rev === undefined) return { error: 'the campaign changed meanwhile; try again' };
      return { rec: { ...c, state: r.campaign, updatedAt: now, rev } };
    });
  }

  async revisions(ids: readonly string[]): Promise<Map<string, number>> {
    const rows = await this.db.query<{ id: string; rev: number }>('reading campaign revisions', 'SELECT id, rev FROM firmware.campaigns WHERE id = ANY($1::text[])', [[...ids]]);
    return new Map(rows.rows.map((r) => [r.id, r.rev]));
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

async function saveIn(sql: Sql, id: string, state: CampaignState | undefined, changed: readonly DeviceRollout[], now: number, expectRev?: number): Promise<number | undefined> {
  const row = (state
    ? await sql.query<{ rev: number }>(`UPDATE firmware.campaigns SET state = $1::jsonb, status = $2, updated_at = $3, rev = rev + 1
        WHERE id = $4 AND ($5::bigint IS NULL OR rev = $5) RETURNING rev`, [JSON.stringify(state), state.status, now, id, expectRev ?? null])
    : await sql.query<{ rev: number }>('UPDATE firmware.campaigns SET rev = rev + 1 WHERE id = $1 AND ($2::bigint IS NULL OR rev = $2) RETURNING rev',
      [id, expectRev ?? null])).rows[0];
  if (!row && expectRev !== undefined) return undefined;
  await putRollouts(sql, id, changed);
  return row?.rev ?? 0;
}

async function claimsIn(sql: Sql, deviceIds: readonly string[], except?: string): Promise<Claims> {
  if (deviceIds.length === 0) return new Map();
  const rows = await sql.query<Row>(`SELECT r.campaign_id, r.device_id, f.version
    FROM firmware.campaigns c JOIN firmware.rollouts r ON r.campaign_id = c.id JOIN firmware.images f ON f.id = c.firmware_id
    WHERE c.status = ANY($1::text[]) AND r.status <> ALL($2::text[]) AND c.id IS DISTINCT FROM $3 AND r.device_id = ANY($4::text[])
    ORDER BY c.created_at, c.id, r.device_id`, [[...LIVE_STATUSES], [...FINAL_STATUSES], except ?? null, [...deviceIds]]);
  return toClaims(rows.rows);
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
