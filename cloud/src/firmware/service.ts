import { randomBytes, randomInt } from 'node:crypto';
import { KIND_SLUGS, isValidId } from '@yulan/protos';
import { CloudError, CloudErrorCode, HttpError } from '../errors.js';
import type { DeviceRecord, DeviceRepository } from '../repositories/device-repository.js';
import { CampaignStatus, DEFAULT_POLICY, EXPECTED_REPORT_SEC, assignStages, newRollout, type CampaignPolicy } from './engine.js';
import { describeStoredClaims } from './claims.js';
import { operateCampaign } from './control.js';
import type { CampaignRunner } from './runner.js';
import type { FirmwareImages } from './images.js';
import { sha256, verifyDigestSignature, type TrustedKeys } from './keys.js';
import { ClaimsConflict, type CampaignRecord, type CampaignTarget, type Claims, type FirmwareRecord, type FirmwareRepository } from './repository.js';
import { compareSemver, isSemver } from './semver.js';

const bad = (message: string): CloudError => new CloudError(CloudErrorCode.Validation, message);

export const NO_KEYS_MESSAGE =
  'firmware uploads are disabled: no trusted signing keys. Set YULAN_FIRMWARE_KEYS to a JSON file of ' +
  '[{"id": "...", "publicKeyPem": "-----BEGIN PUBLIC KEY-----..."}] (Ed25519) and restart the cloud';

export interface UploadParams {
  version?: string;
  kind?: string;
  keyId?: string;
  signature?: string;
  /** optional declared size: a shorter body is reported as truncated */
  size?: string;
}

/** Verifies and stores one image; every refusal names the problem. */
export async function uploadFirmware(
  deps: { repo: FirmwareRepository; images: FirmwareImages; keys: TrustedKeys | null; now: () => number },
  p: UploadParams, body: Buffer | undefined,
): Promise<FirmwareRecord> {
  if (!deps.keys || deps.keys.size === 0) throw new HttpError(409, CloudErrorCode.Conflict, NO_KEYS_MESSAGE);
  if (!p.version || !isSemver(p.version)) throw bad(`"version" must be a semantic version like 2.1.0, got ${JSON.stringify(p.version ?? null)}`);
  if (!p.kind || !(KIND_SLUGS as readonly string[]).includes(p.kind)) throw bad(`"kind" must be one of ${KIND_SLUGS.join(', ')}`);
  if (!body || body.length === 0) throw bad('empty image: send the image as the raw application/octet-stream body');
  if (p.size !== undefined) {
    const want = Number(p.size);
    if (!Number.isSafeInteger(want) || want <= 0) throw bad('"size" must be a positive integer');
    if (body.length < want) throw bad(`truncated image: received ${body.length} of ${want} bytes`);
    if (body.length > want) throw bad(`image is ${body.length} bytes, longer than the declared size ${want}`);
  }
  if (!p.signature) throw bad('unsigned image: "signature" (base64 Ed25519 over the SHA-256 digest of the image) is required');
  if (!p.keyId) throw bad('"key_id" is required: the id of the trusted key that signed the image');
  const key = deps.keys.get(p.keyId);
  if (!key) throw bad(`unknown key_id "${p.keyId}": not among the trusted keys (YULAN_FIRMWARE_KEYS)`);
  const digest = sha256(body);
  if (!verifyDigestSignature(digest, p.signature, key)) {
    throw bad(`signature does not verify with key "${p.keyId}": the image is tampered or truncated, or was signed with another key`);
  }
  const rec: FirmwareRecord = {
    id: `fw_${randomBytes(8).toString('hex')}`, kind: p.kind, version: p.version, sha256: digest.toString('hex'),
    size: body.length, keyId: p.keyId, signature: p.signature, createdAt: deps.now(),
  };
  await deps.images.put(rec.sha256, body);
  await deps.repo.insertFirmware(rec);
  return rec;
}

export interface CampaignInput {
  firmwareId: string;
  target: CampaignTarget;
  stages?: number[];
  advanceAt?: number;
  abortAt?: number;
  spreadSec?: number;
  soakSec?: number;
  updateTimeoutSec?: number;
  reportEverySec?: number;
  missedReports?: number;
  reofferSec?: number;
  maxOffers?: number;
  deadlineSec?: number;
  minSample?: number;
  allowDowngrade?: boolean;
  /** abort the live campaigns that claim some of the targets, instead of a 409 */
  supersede?: boolean;
  /** fixed seed (tests, reproducing a rollout); random otherwise */
  seed?: number;
}

async function allOfKind(devices: DeviceRepository, kind: string): Promise<DeviceRecord[]> {
  const out: DeviceRecord[] = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await devices.list({ kind: kind as DeviceRecord['kind'], limit: 1000, offset });
    out.push(...page.items);
    if (page.items.length < 1000) return out;
  }
}

/** Resolves the targets, refuses silent downgrades, assigns stages and stores the campaign. */
export async function createCampaign(
  deps: { repo: FirmwareRepository; devices: DeviceRepository; runner: CampaignRunner; now: () => number }, input: CampaignInput,
): Promise<CampaignRecord> {
  const fw = await deps.repo.getFirmware(input.firmwareId);
  if (!fw) throw new CloudError(CloudErrorCode.NotFound, `firmware "${input.firmwareId}" not found`);
  if (input.target.kind !== fw.kind) throw bad(`firmware ${fw.id} is for ${fw.kind}, the target is ${input.target.kind}`);
  const stages = input.stages ?? DEFAULT_POLICY.stages;
  if (stages.length === 0 || stages.some((s, i) => !(s > 0 && s <= 1) || (i > 0 && s < (stages[i - 1] as number)))) {
    throw bad('"stages" must be ascending fractions in (0, 1], e.g. [0.01, 0.1, 1]');
  }
  for (const s of input.target.sites ?? []) if (!isValidId(s)) throw bad(`invalid site "${s}"`);
  const sites = input.target.sites && new Set(input.target.sites);
  const from = input.target.fromVersions && new Set(input.target.fromVersions);
  const matching = (await allOfKind(deps.devices, fw.kind)).filter((d) =>
    d.status !== 'disabled' && (!sites || sites.has(d.site)) && (!from || (d.firmwareVersion !== null && from.has(d.firmwareVersion)))
    && d.firmwareVersion !== fw.version);
  // A device that cannot take firmware over the air would only fail its update and count
  // against the stage's abort threshold: it is not a target at all.
  const targets = matching.filter((d) => d.firmwareUpdates === 'ota');
  if (targets.length === 0) {
    const offline = matching.length - targets.length;
    throw bad(offline > 0
      ? `none of the ${offline} matching device(s) takes firmware over the air (firmwareUpdates "none", e.g. ${matching[0]?.id}): flash them with yulan flash`
      : 'no registered devices match the target (or all already run this version)');
  }
  const newer = targets.filter((d) => d.firmwareVersion !== null && compareSemver(d.firmwareVersion, fw.version) > 0);
  if (newer.length > 0 && !input.allowDowngrade) {
    throw bad(`downgrade: ${newer.length} target device(s) run a newer version than ${fw.version} (e.g. ${newer[0]?.id} on ${newer[0]?.firmwareVersion}); set "allowDowngrade": true to proceed`);
  }
  // One live campaign per device: a second one would race the first (and could downgrade).
  const id = `cmp_${randomBytes(8).toString('hex')}`;
  // Claims are read from the database: live campaigns of every cloud.
  const claims = await deps.repo.claims(targets.map((d) => d.id));
  if (claims.size > 0) {
    if (!input.supersede) throw claimedError(claims);
    for (const cid of claims.keys()) {
      const problem = await operateCampaign(deps, cid, 'abort', `superseded by campaign ${id}`);
      if (problem) throw new HttpError(409, CloudErrorCode.Conflict, `cannot supersede ${cid}: ${problem}`);
    }
  }
  const now = deps.now();
  const pick = <K extends keyof CampaignInput & keyof CampaignPolicy>(k: K): Partial<CampaignPolicy> =>
    (input[k] !== undefined ? { [k]: input[k] } : {});
  const policy: CampaignPolicy = {
    ...DEFAULT_POLICY,
    reportEverySec: EXPECTED_REPORT_SEC[fw.kind] ?? DEFAULT_POLICY.reportEverySec,
    stages,
    ...pick('advanceAt'), ...pick('abortAt'), ...pick('spreadSec'), ...pick('soakSec'), ...pick('updateTimeoutSec'),
    ...pick('reportEverySec'), ...pick('missedReports'), ...pick('reofferSec'), ...pick('maxOffers'), ...pick('deadlineSec'),
    ...pick('minSample'), allowDowngrade: input.allowDowngrade === true,
    seed: input.seed ?? randomInt(0, 2 ** 31),
  };
  const stageOf = assignStages(targets.map((d) => d.id), stages, policy.seed);
  const rollouts = targets.map((d) => newRollout(d.id, stageOf.get(d.id) ?? 0, now, d.firmwareVersion,
    d.status === 'online' ? true : d.status === 'offline' ? false : undefined));
  const c: CampaignRecord = {
    id, firmwareId: fw.id, target: input.target, policy,
    state: { status: CampaignStatus.Running, stage: 0, stageStartedAt: now, pausedAt: null, reason: null, deadlineAt: now + policy.deadlineSec * 1000 },
    createdAt: now, updatedAt: now,
  };
  try {
    // Checked again where it is stored, atomically: two operators creating at once, through
    // one cloud or two, get one campaign and one 409.
    await deps.repo.createCampaign(c, rollouts);
  } catch (err) {
    throw err instanceof ClaimsConflict ? claimedError(err.claims) : err;
  }
  await deps.runner.watch(c);
  return c;
}

const claimedError = (claims: Claims): HttpError =>
  new HttpError(409, CloudErrorCode.Conflict, `${describeStoredClaims(claims) as string}: abort it first, or create with "supersede": true`);
