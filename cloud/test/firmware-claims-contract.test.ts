import { afterAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { ClaimsConflict, SqliteFirmwareRepository, type CampaignRecord, type FirmwareRecord, type FirmwareRepository } from '../src/firmware/repository.js';
import { PgFirmwareRepository } from '../src/firmware/pg-firmware-repository.js';
import { decideOperation } from '../src/firmware/control.js';
import { DEFAULT_POLICY, isFinal, newRollout, type CampaignState, type DeviceRollout, type OperatorAction } from '../src/firmware/engine.js';
import type { PostgresDatabase } from '../src/db/postgres.js';
import { usePostgres } from './pg-support.js';
import { secondCloud } from './pg-two-clouds.js';
import { tempDir } from './helpers.js';

/** The firmware repository's part in "one live campaign per device" and in operators' actions
 * through any cloud (control.ts), on SQLite and PostgreSQL; the races with two pools on one
 * PostgreSQL database, as two clouds have. */
const pgs = usePostgres();
const tmp = tempDir('firmware-claims-');
const pools: PostgresDatabase[] = [];
afterAll(async () => {
  for (const p of pools) await p.close();
  tmp.cleanup();
});
let n = 0;
const impls: [string, () => Promise<FirmwareRepository>][] = [['sqlite', async () => new SqliteFirmwareRepository(path.join(tmp.dir, `fw-${n++}.sqlite`))]];
if (!pgs.skip) impls.push(['postgres', async () => PgFirmwareRepository.open(await pgs.fresh())]);

const fw = (id: string, version: string): FirmwareRecord => ({
  id, kind: 'ev-charger', version, sha256: 'ab'.repeat(32), size: 1234, keyId: 'release', signature: 'c2ln', createdAt: 1,
});
const state = (over: Partial<CampaignState> = {}): CampaignState => ({ status: 'running', stage: 0, stageStartedAt: 10, pausedAt: null, reason: null, deadlineAt: 99_000, ...over });
const campaign = (id: string, firmwareId: string, createdAt = 5): CampaignRecord => ({
  id, firmwareId, target: { kind: 'ev-charger' }, policy: { ...DEFAULT_POLICY, seed: 7 }, state: state(), createdAt, updatedAt: createdAt,
});
const rollouts = (...ids: string[]): DeviceRollout[] => ids.map((id) => newRollout(id, 0, 5, '1.0.0', true));
const act = (action: OperatorAction, now: number) => (c: CampaignRecord, rs: readonly DeviceRollout[], claims: Parameters<typeof decideOperation>[2]) =>
  decideOperation(c, rs, claims, action, now, undefined, new Map());

describe.each(impls)('firmware campaign claims and control (%s)', (_name, open) => {
  it('claims are the unfinished devices of running and paused campaigns; a create touching one is refused and stores nothing', async () => {
    const r = await open();
    await r.insertFirmware(fw('fw_1', '2.0.0'));
    await r.insertFirmware(fw('fw_2', '3.0.0'));
    await r.createCampaign(campaign('c1', 'fw_1'), rollouts('d1', 'd2', 'd3'));
    await r.saveStep('c1', undefined, [{ ...rollouts('d3')[0]!, status: 'succeeded' }], 6);
    expect(await r.claims(['d1', 'd3', 'd9'])).toEqual(new Map([['c1', { version: '2.0.0', devices: ['d1'] }]]));
    expect(await r.claims(['d1'], 'c1')).toEqual(new Map());
    const err = await r.createCampaign(campaign('c2', 'fw_2', 6), rollouts('d2', 'd4')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClaimsConflict);
    expect((err as ClaimsConflict).claims).toEqual(new Map([['c1', { version: '2.0.0', devices: ['d2'] }]]));
    expect(await r.getCampaign('c2')).toBeUndefined();
    expect(await r.rollouts('c2')).toEqual([]);
    // a finished device is free; so is every device of a campaign that ended
    await r.createCampaign(campaign('c3', 'fw_2', 7), rollouts('d3'));
    await r.saveStep('c1', state({ status: 'aborted' }), [], 8);
    expect(await r.claims(['d1', 'd2'])).toEqual(new Map());
    await r.createCampaign(campaign('c4', 'fw_2', 9), rollouts('d1', 'd2'));
    expect((await r.listCampaigns(['running'])).map((c) => c.id)).toEqual(['c3', 'c4']);
    await r.close();
  });

  it('a runner\'s write with a stale rev writes nothing; each write bumps the rev', async () => {
    const r = await open();
    await r.insertFirmware(fw('fw_1', '2.0.0'));
    await r.createCampaign(campaign('c1', 'fw_1'), rollouts('d1'));
    expect((await r.getCampaign('c1'))?.rev).toBe(0);
    const rev1 = await r.saveStep('c1', state({ stage: 1 }), [], 20, 0);
    expect(rev1).toBe(1);
    expect(await r.saveStep('c1', undefined, [{ ...rollouts('d1')[0]!, status: 'sent' }], 21, 1)).toBe(2);
    expect(await r.saveStep('c1', state({ stage: 2 }), [{ ...rollouts('d1')[0]!, status: 'failed' }], 22, 1)).toBeUndefined();
    expect(await r.getCampaign('c1')).toMatchObject({ rev: 2, state: { stage: 1 }, updatedAt: 20 });
    expect((await r.rollout('c1', 'd1'))?.status).toBe('sent');
    expect(await r.revisions(['c1', 'nope'])).toEqual(new Map([['c1', 2]]));
    await r.close();
  });

  it('an operator\'s action is the engine\'s decision over the stored campaign: written with a new rev, the same action twice changes nothing more', async () => {
    const r = await open();
    await r.insertFirmware(fw('fw_1', '2.0.0'));
    await r.createCampaign(campaign('c1', 'fw_1'), [...rollouts('d1'), { ...rollouts('d2')[0]!, status: 'installing' }]);
    const paused = await r.operateCampaign('c1', act('pause', 50), 50);
    expect(paused).toMatchObject({ rec: { rev: 1, state: { status: 'paused', pausedAt: 50 } } });
    expect(await r.operateCampaign('c1', act('pause', 60), 60)).toMatchObject({ rec: { rev: 1, state: { status: 'paused', pausedAt: 50 } } });
    const aborted = await r.operateCampaign('c1', act('abort', 70), 70);
    expect(aborted).toMatchObject({ rec: { rev: 2, state: { status: 'aborted', reason: 'operator: aborted by an operator' } } });
    expect((await r.rollouts('c1')).map((d) => [d.deviceId, d.status])).toEqual([['d1', 'skipped'], ['d2', 'cancelled']]);
    expect(await r.operateCampaign('c1', act('abort', 80), 80)).toEqual({ error: 'campaign is aborted' });
    expect(await r.operateCampaign('c1', act('resume', 80), 80)).toEqual({ error: 'campaign is aborted' });
    expect((await r.getCampaign('c1'))?.rev).toBe(2);
    expect(await r.operateCampaign('nope', act('pause', 80), 80)).toBeUndefined();
    await r.close();
  });

  it('resume refuses while another live campaign claims one of its unfinished devices', async () => {
    const r = await open();
    await r.insertFirmware(fw('fw_1', '2.0.0'));
    await r.insertFirmware(fw('fw_2', '3.0.0'));
    await r.createCampaign(campaign('c1', 'fw_1'), rollouts('d1'));
    await r.operateCampaign('c1', act('pause', 50), 50);
    // an older release could leave two live campaigns on one device; resume must not add a third writer
    await r.saveStep('c1', state({ status: 'completed' }), [], 51);
    await r.createCampaign(campaign('c2', 'fw_2', 6), rollouts('d1'));
    await r.saveStep('c1', state({ status: 'paused', pausedAt: 50 }), [], 52);
    expect(await r.operateCampaign('c1', act('resume', 60), 60)).toEqual({ error: expect.stringMatching(/^conflict: 1 device\(s\) \(d1\) are claimed by live campaign c2 \(firmware 3\.0\.0\)/) });
    await r.close();
  });
});

describe.skipIf(pgs.skip)('firmware campaigns with two clouds on one PostgreSQL database', () => {
  const twoClouds = async (): Promise<[FirmwareRepository, FirmwareRepository]> => {
    const a = await pgs.fresh();
    const b = secondCloud(a);
    pools.push(b);
    return [await PgFirmwareRepository.open(a), await PgFirmwareRepository.open(b)];
  };

  it('two clouds creating campaigns for the same device at once: one wins, the other is refused', async () => {
    const [a, b] = await twoClouds();
    await a.insertFirmware(fw('fw_1', '2.0.0'));
    for (let i = 0; i < 10; i++) {
      const out = await Promise.allSettled([
        a.createCampaign(campaign(`a${i}`, 'fw_1', i), rollouts(`x${i}`, `shared${i}`)),
        b.createCampaign(campaign(`b${i}`, 'fw_1', i), rollouts(`shared${i}`, `y${i}`)),
      ]);
      expect(out.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
      expect((out.find((o) => o.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(ClaimsConflict);
      expect([...(await a.claims([`shared${i}`])).values()].map((c) => c.devices)).toEqual([[`shared${i}`]]);
    }
  });

  it('pause and abort racing on two clouds end in one consistent state: aborted, every device final, one rev per write', async () => {
    const [a, b] = await twoClouds();
    await a.insertFirmware(fw('fw_1', '2.0.0'));
    for (let i = 0; i < 10; i++) {
      await a.createCampaign(campaign(`c${i}`, 'fw_1'), rollouts(`p${i}`, `q${i}`));
      const [pause, abort] = await Promise.all([a.operateCampaign(`c${i}`, act('pause', 50), 50), b.operateCampaign(`c${i}`, act('abort', 50), 50)]);
      expect(abort).toMatchObject({ rec: { state: { status: 'aborted' } } });
      const c = await b.getCampaign(`c${i}`);
      expect(c?.state.status).toBe('aborted');
      // pause first (then abort over it: two writes) or abort first (then pause refused: one)
      if (pause && 'error' in pause) {
        expect(pause.error).toBe('campaign is aborted');
        expect(c?.rev).toBe(1);
      } else {
        expect(c?.rev).toBe(2);
      }
      expect((await a.rollouts(`c${i}`)).every((d) => isFinal(d.status))).toBe(true);
    }
  });

  it('a runner\'s write over an action committed through the other cloud is refused, so the action is never overwritten', async () => {
    const [a, b] = await twoClouds();
    await a.insertFirmware(fw('fw_1', '2.0.0'));
    await a.createCampaign(campaign('c1', 'fw_1'), rollouts('d1', 'd2'));
    const seen = (await a.getCampaign('c1'))?.rev as number;
    await b.operateCampaign('c1', act('abort', 50), 50);
    // cloud A's runner planned over the state it read before: an offer for d1
    expect(await a.saveStep('c1', state({ stage: 1 }), [{ ...rollouts('d1')[0]!, status: 'sent' }], 51, seen)).toBeUndefined();
    expect((await a.getCampaign('c1'))?.state.status).toBe('aborted');
    expect((await a.rollouts('c1')).map((d) => d.status)).toEqual(['skipped', 'skipped']);
  });
});
