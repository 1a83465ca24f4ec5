import { afterAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { SqliteFirmwareRepository, type CampaignRecord, type FirmwareRecord, type FirmwareRepository } from '../src/firmware/repository.js';
import { PgFirmwareRepository } from '../src/firmware/pg-firmware-repository.js';
import { DEFAULT_POLICY, newRollout, type CampaignState } from '../src/firmware/engine.js';
import { CloudErrorCode } from '../src/errors.js';
import { usePostgres } from './pg-support.js';
import { tempDir } from './helpers.js';

const pgs = usePostgres();
const tmp = tempDir('firmware-contract-');
afterAll(() => tmp.cleanup());
let n = 0;
const impls: [string, () => Promise<FirmwareRepository>][] = [['sqlite', async () => new SqliteFirmwareRepository(path.join(tmp.dir, `fw-${n++}.sqlite`))]];
if (!pgs.skip) impls.push(['postgres', async () => PgFirmwareRepository.open(await pgs.fresh())]);

const fw = (id: string, version: string, createdAt: number, kind = 'ev-charger'): FirmwareRecord => ({
  id, kind, version, sha256: 'ab'.repeat(32), size: 1234, keyId: 'release', signature: 'c2ln', createdAt,
});
const state = (over: Partial<CampaignState> = {}): CampaignState => ({ status: 'running', stage: 0, stageStartedAt: 10, pausedAt: null, reason: null, deadlineAt: 99_000, ...over });
const campaign = (id: string, firmwareId: string, createdAt: number): CampaignRecord => ({
  id, firmwareId, target: { kind: 'ev-charger', sites: ['s1'] }, policy: { ...DEFAULT_POLICY, seed: 7 }, state: state(), createdAt, updatedAt: createdAt,
});

describe.each(impls)('firmware repository contract (%s)', (_name, open) => {
  it('stores firmware once per kind and version, lists newest first, by kind', async () => {
    const r = await open();
    await r.insertFirmware(fw('fw_1', '1.0.0', 1));
    await r.insertFirmware(fw('fw_2', '2.0.0', 2));
    await r.insertFirmware(fw('fw_3', '2.0.0', 3, 'env-monitor'));
    await expect(r.insertFirmware(fw('fw_4', '2.0.0', 4))).rejects.toMatchObject({ code: CloudErrorCode.Duplicate });
    expect(await r.getFirmware('fw_2')).toEqual(fw('fw_2', '2.0.0', 2));
    expect(await r.getFirmware('nope')).toBeUndefined();
    expect((await r.listFirmware()).map((f) => f.id)).toEqual(['fw_3', 'fw_2', 'fw_1']);
    expect((await r.listFirmware('ev-charger')).map((f) => f.id)).toEqual(['fw_2', 'fw_1']);
    expect(await r.legacyTokenSecret()).toBeUndefined();
    await r.close();
  });

  it('keeps a campaign, its rollouts and each step (state and changed rollouts) together', async () => {
    const r = await open();
    await r.insertFirmware(fw('fw_1', '2.0.0', 1));
    const c = campaign('c1', 'fw_1', 5);
    const ds = ['d1', 'd2', 'd3'].map((id) => newRollout(id, 0, 5, '1.0.0', true));
    await r.createCampaign(c, ds);
    await r.createCampaign(campaign('c2', 'fw_1', 6), []);
    expect(await r.getCampaign('c1')).toEqual({ ...c, rev: 0 });
    expect((await r.rollouts('c1')).map((d) => d.deviceId)).toEqual(['d1', 'd2', 'd3']);
    const sent = { ...ds[0]!, status: 'sent' as const, sentAt: 20, offers: 1, offeredAt: 20 };
    await r.saveStep('c1', state({ stage: 1, stageStartedAt: 20 }), [sent, { ...ds[1]!, status: 'scheduled' as const }, { ...sent, offers: 1 }], 20);
    expect(await r.rollout('c1', 'd1')).toEqual(sent);
    expect(await r.statusCounts('c1')).toEqual({ sent: 1, scheduled: 1, waiting: 1 });
    expect(await r.getCampaign('c1')).toMatchObject({ state: { stage: 1 }, updatedAt: 20 });
    await r.saveStep('c1', state({ status: 'completed' }), [], 30);
    expect((await r.listCampaigns(['running', 'paused'])).map((x) => x.id)).toEqual(['c2']);
    expect((await r.listCampaigns()).map((x) => x.id)).toEqual(['c1', 'c2']);
    await r.close();
  });

  it('records which offers the broker acknowledged, never lowering the count, and keeps it through later steps', async () => {
    const r = await open();
    await r.insertFirmware(fw('fw_1', '2.0.0', 1));
    const ds = ['d1', 'd2'].map((id) => newRollout(id, 0, 5));
    await r.createCampaign(campaign('c1', 'fw_1', 5), ds);
    expect(await r.publishedOffers('c1')).toEqual(new Map());
    await r.markPublished('c1', 'd1', 2);
    await r.markPublished('c1', 'd1', 1);
    await r.saveStep('c1', undefined, [{ ...ds[0]!, status: 'downloading' }], 40);
    expect(await r.publishedOffers('c1')).toEqual(new Map([['d1', 2]]));
    await r.close();
  });
});
