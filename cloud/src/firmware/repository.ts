import { CloudError, CloudErrorCode } from '../errors.js';
import { DEFAULT_POLICY, type CampaignPolicy, type CampaignState, type DeviceRollout, type RolloutStatus } from './engine.js';

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
  /** bumped by every write of its state or rollouts: a writer holding an older one lost a race */
  rev?: number;
}

/** Live campaigns' unfinished devices: campaign id → its firmware version and those devices. */
export type Claims = Map<string, { version: string; devices: string[] }>;

/** An operator's action as a pure decision over the stored campaign (engine `operate`). */
export type Decide = (c: CampaignRecord, rollouts: readonly DeviceRollout[], claims: Claims)
  => { campaign: CampaignState; changed: DeviceRollout[] } | { error: string };
export type OperateOutcome = { rec: CampaignRecord } | { error: string } | undefined;

/** Thrown by createCampaign when a target is an unfinished device of another live campaign. */
export class ClaimsConflict extends CloudError {
  constructor(readonly claims: Claims) {
    super(CloudErrorCode.Conflict, 'devices are claimed by a live campaign');
  }
}

export const FINAL_STATUSES: readonly string[] = ['succeeded', 'failed', 'skipped', 'cancelled', 'expired'];
export const LIVE_STATUSES: readonly string[] = ['running', 'paused'];

export type Row = Record<string, unknown>;

export const toFirmware = (r: Row): FirmwareRecord => ({
  id: r.id as string, kind: r.kind as string, version: r.version as string, sha256: r.sha256 as string,
  size: r.size as number, keyId: r.key_id as string, signature: r.signature as string, createdAt: r.created_at as number,
});
export const toCampaign = (r: Row): CampaignRecord => ({
  id: r.id as string, firmwareId: r.firmware_id as string, target: JSON.parse(r.target as string) as CampaignTarget,
  // Campaigns stored before a policy field existed get its default.
  policy: { ...DEFAULT_POLICY, ...(JSON.parse(r.policy as string) as CampaignPolicy) }, state: JSON.parse(r.state as string) as CampaignState,
  createdAt: r.created_at as number, updatedAt: r.updated_at as number, rev: r.rev as number,
});

export const toClaims = (rows: readonly Row[]): Claims => {
  const out: Claims = new Map();
  for (const r of rows) {
    const id = r.campaign_id as string;
    const c = out.get(id) ?? { version: r.version as string, devices: [] };
    c.devices.push(r.device_id as string);
    out.set(id, c);
  }
  return out;
};

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
  /** Stored only if no target is an unfinished device of another live campaign (checked
   * and stored atomically, across clouds): ClaimsConflict otherwise. */
  createCampaign(c: CampaignRecord, rollouts: readonly DeviceRollout[]): Promise<void>;
  /** Which of `deviceIds` live campaigns other than `except` have not finished with. */
  claims(deviceIds: readonly string[], except?: string): Promise<Claims>;
  /** An operator's action from any cloud: `decide` over the stored campaign under its lock
   * (and the claims lock), written with a new rev; undefined when there is no such campaign. */
  operateCampaign(id: string, decide: Decide, now: number): Promise<OperateOutcome>;
  /** campaign id → rev, for the runner to see what other clouds changed */
  revisions(ids: readonly string[]): Promise<Map<string, number>>;
  getCampaign(id: string): Promise<CampaignRecord | undefined>;
  listCampaigns(statuses?: readonly string[]): Promise<CampaignRecord[]>;
  rollouts(campaignId: string): Promise<DeviceRollout[]>;
  rollout(campaignId: string, deviceId: string): Promise<DeviceRollout | undefined>;
  statusCounts(campaignId: string): Promise<Partial<Record<RolloutStatus, number>>>;
  /** One decision, atomically: the campaign's new state and the rollouts it changed. With
   * `expectRev`, only if the campaign's rev is still that (else nothing is written and the
   * answer is undefined); the answer is the new rev. */
  saveStep(campaignId: string, state: CampaignState | undefined, changed: readonly DeviceRollout[], now: number, expectRev?: number): Promise<number | undefined>;
  /** The broker acknowledged the device's offer number `offers` (never lowers it). */
  markPublished(campaignId: string, deviceId: string, offers: number): Promise<void>;
  /** device id → offers acknowledged by the broker (devices with none are left out) */
  publishedOffers(campaignId: string): Promise<Map<string, number>>;
  close(): Promise<void>;
}

// Re-exported: the contract tests and older callers import the SQLite store from here.
export { SqliteFirmwareRepository } from './sqlite-firmware-repository.js';
