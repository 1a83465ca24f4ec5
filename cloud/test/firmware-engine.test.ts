import { describe, expect, it } from 'vitest';
import {
  CampaignStatus, DEFAULT_POLICY, RolloutStatus, assignStages, isFinal, newRollout, observe, operate, plan, soakVerdict, stageCounts, startDelayMs,
  type CampaignPolicy, type CampaignState, type DeviceRollout, type Observation,
} from '../src/firmware/engine.js';
import { compareSemver } from '../src/firmware/semver.js';

const T0 = 1_700_000_000_000;
const V = '2.0.0';
const policy = (over: Partial<CampaignPolicy> = {}): CampaignPolicy => ({
  ...DEFAULT_POLICY, spreadSec: 10, soakSec: 60, reportEverySec: 10, missedReports: 3, reofferSec: 5, minSample: 10, seed: 42, ...over,
});
const running = (over: Partial<CampaignState> = {}): CampaignState => ({ status: CampaignStatus.Running, stage: 0, stageStartedAt: T0, pausedAt: null, reason: null, ...over });
const fleet = (n: number, p: CampaignPolicy, version = '1.0.0'): DeviceRollout[] => {
  const ids = Array.from({ length: n }, (_, i) => `dev-${i}`);
  const stages = assignStages(ids, p.stages, p.seed);
  return ids.map((id) => newRollout(id, stages.get(id) ?? 0, T0, version, true));
};
const apply = (devices: DeviceRollout[], changed: DeviceRollout[]): DeviceRollout[] => {
  const m = new Map(changed.map((d) => [d.deviceId, d]));
  return devices.map((d) => m.get(d.deviceId) ?? d);
};
/** a tiny world: devices + campaign, observations folded and planned the way the runner does */
function world(n: number, p: CampaignPolicy, state = running()) {
  const w = { c: state, ds: fleet(n, p), now: T0, sent: [] as string[] };
  const step = () => {
    const r = plan(w.c, w.ds, w.now, p, V);
    w.c = r.campaign;
    w.ds = apply(w.ds, r.changed);
    w.sent.push(...r.send);
    return r;
  };
  const see = (id: string, o: Observation) => {
    w.ds = w.ds.map((d) => (d.deviceId === id ? observe(d, o, w.now, V, p) : d));
    return step();
  };
  const get = (id: string) => w.ds.find((d) => d.deviceId === id) as DeviceRollout;
  /** installed, back on the new version, first telemetry */
  const install = (id: string) => {
    see(id, { type: 'progress', step: 'installed', version: V });
    see(id, { type: 'presence', online: true, firmwareVersion: V });
    w.now += 1000;
    see(id, { type: 'telemetry', version: V });
  };
  return { w, step, see, get, install };
}

describe('stages and spread', () => {
  it('cumulative stage counts: canary of at least one, never above the fleet', () => {
    expect(stageCounts(20, [0.01, 0.1, 1])).toEqual([1, 2, 20]);
    expect(stageCounts(1000, [0.01, 0.1, 1])).toEqual([10, 100, 1000]);
    expect(stageCounts(0, [0.5, 1])).toEqual([0, 0]);
  });
  it('stage membership and start delays are deterministic per seed', () => {
    const ids = Array.from({ length: 50 }, (_, i) => `d${i}`);
    expect([...assignStages(ids, [0.1, 1], 7)]).toEqual([...assignStages([...ids].reverse(), [0.1, 1], 7)]);
    expect(startDelayMs(7, 'd1', 30)).toBe(startDelayMs(7, 'd1', 30));
    expect(startDelayMs(7, 'd1', 30)).toBeLessThan(30_000);
    expect(startDelayMs(7, 'd1', 0)).toBe(0);
  });
  it('semver ordering', () => {
    expect(compareSemver('2.10.0', '2.9.1')).toBeGreaterThan(0);
    expect(compareSemver('2.0.0-rc.1', '2.0.0')).toBeLessThan(0);
    expect(compareSemver('1.0.0+build', '1.0.0')).toBe(0);
  });
});

describe('health means positive evidence', () => {
  it('succeeds only after the soak, back on the new version, with telemetry after install', () => {
    const p = policy({ stages: [0.1, 1], spreadSec: 0 });
    const { w, step, see, get, install } = world(10, p);
    step();
    const canary = w.sent[0] as string;
    install(canary);
    w.now = T0 + 30_000;
    see(canary, { type: 'telemetry', version: V });
    expect(get(canary).status).toBe(RolloutStatus.Soaking);
    w.now = T0 + 61_000;
    see(canary, { type: 'telemetry', version: V });
    expect(get(canary).status).toBe(RolloutStatus.Succeeded);
    expect(w.c.stage).toBe(1);
    expect(w.sent).toHaveLength(10);
  });

  it('a device silent after install fails the health gate, even though it said "installed"', () => {
    const p = policy({ stages: [1], spreadSec: 0, minSample: 100, abortAt: 1 });
    const { w, step, see, get } = world(3, p);
    step();
    see('dev-0', { type: 'progress', step: 'installed', version: V });
    see('dev-0', { type: 'presence', online: false, firmwareVersion: V });
    w.now = T0 + 29_000;
    step();
    expect(get('dev-0').status).toBe(RolloutStatus.Soaking);
    w.now = T0 + 90_000;
    step();
    expect(get('dev-0')).toMatchObject({ status: RolloutStatus.Failed, reason: expect.stringMatching(/^health gate: no telemetry since install .*never came back/) });
  });

  it('telemetry that stops during the soak fails it; a version other than the target fails it', () => {
    const p = policy({ stages: [1], spreadSec: 0, abortAt: 1 });
    const { w, step, see, get, install } = world(2, p);
    step();
    install('dev-0');
    install('dev-1');
    w.now += 20_000;
    see('dev-1', { type: 'telemetry', version: '1.0.0' });
    expect(get('dev-1').reason).toMatch(/health gate: reports 1\.0\.0 after installing 2\.0\.0/);
    w.now += 20_000;
    step();
    expect(get('dev-0').reason).toMatch(/health gate: telemetry stopped for \d+ s \(expected every 10 s\)/);
  });

  it('error events, crash loops and false alarms above the pre-update rate fail a device', () => {
    const p = policy();
    const soaking: DeviceRollout = { ...newRollout('x', 0, T0), status: RolloutStatus.Soaking, sentAt: T0 + 3_600_000, installedAt: T0 + 3_600_000, lastTelemetryAt: T0 + 3_600_001 };
    const at = T0 + 3_600_002;
    const o = (d: DeviceRollout, x: Observation) => observe(d, x, at, '2', p);
    expect(soakVerdict(soaking, at, p)).toBeUndefined();
    expect(soakVerdict(o(soaking, { type: 'event', eventType: 'charger.fault' }), at, p)).toMatchObject({ fail: expect.stringMatching(/error event/) });
    const boot = (d: DeviceRollout) => [false, true, true].reduce<DeviceRollout>((x, online) => o(x, { type: 'presence', online, firmwareVersion: '2' }), d);
    expect(soakVerdict(boot(soaking), at, p)).toBeUndefined();
    expect(soakVerdict(boot(boot(soaking)), at, p)).toMatchObject({ fail: expect.stringMatching(/crash loop/) });
    const alarms = (d: DeviceRollout, n: number) => Array.from({ length: n }).reduce<DeviceRollout>((x) => o(x, { type: 'event', eventType: 'fall.cancelled' }), d);
    expect(soakVerdict(alarms(soaking, 1), at, p)).toBeUndefined();
    expect(soakVerdict(alarms(soaking, 2), at, p)).toMatchObject({ fail: expect.stringMatching(/false alarms/) });
    const noisy = { ...alarms({ ...soaking, status: RolloutStatus.Waiting }, 200), status: RolloutStatus.Soaking };
    expect(soakVerdict(alarms(noisy, 2), at, p)).toBeUndefined();
  });
});

describe('thresholds per stage, on every result', () => {
  it('3 of 10 new devices failing aborts stage 2 although 3 of 20 over both stages is under abortAt', () => {
    const p = policy({ stages: [0.5, 1], spreadSec: 0, abortAt: 0.2, soakSec: 1 });
    const { w, step, see, install } = world(20, p);
    step();
    const first = [...w.sent];
    for (const id of first) install(id);
    w.now += 2000;
    for (const id of first) see(id, { type: 'telemetry', version: V });
    expect(w.c.stage).toBe(1);
    const second = w.sent.slice(first.length);
    expect(second).toHaveLength(10);
    for (const id of second.slice(0, 7)) install(id);
    w.now += 2000;
    for (const id of second.slice(0, 7)) see(id, { type: 'telemetry', version: V });
    see(second[7] as string, { type: 'progress', step: 'rolled_back', reason: 'boot' });
    see(second[8] as string, { type: 'result', status: 'failed', message: 'flash write error' });
    expect(w.c.status).toBe(CampaignStatus.Running);
    see(second[9] as string, { type: 'progress', step: 'failed', reason: 'sha256 mismatch' });
    expect(w.c).toMatchObject({ status: CampaignStatus.Aborted, reason: expect.stringMatching(/^abort threshold: 3 of 10 finished or soaking devices of stage 2 failed \(30 % > abortAt 20 %\)/) });
  });

  it('many devices falling silent at once abort on the crossing failure, not a tick later', () => {
    const p = policy({ stages: [1], spreadSec: 0, abortAt: 0.1, minSample: 10 });
    const { w, step, install } = world(40, p);
    step();
    for (const d of w.ds) install(d.deviceId);
    w.now += 120_000;
    step();
    const failed = w.ds.filter((d) => d.status === RolloutStatus.Failed);
    // the failure that crosses 10 % of the judged devices ends it; the other silent ones are not piled on
    const [, f, n] = /^abort threshold: (\d+) of (\d+) finished or soaking/.exec(w.c.reason ?? '') ?? [];
    expect(Number(f) / Number(n)).toBeGreaterThan(0.1);
    expect((Number(f) - 1) / Number(n)).toBeLessThanOrEqual(0.1);
    expect(failed).toHaveLength(Number(f));
    expect(w.ds.every((d) => isFinal(d.status))).toBe(true);
    expect(w.ds.filter((d) => d.status === RolloutStatus.Cancelled)).toHaveLength(40 - Number(f));
  });
});

describe('devices catch up', () => {
  it('offline when due: pending, offered when it returns, within its retry budget; never a failure before the deadline', () => {
    const p = policy({ stages: [1], spreadSec: 0, maxOffers: 3, deadlineSec: 3600 });
    const { w, step, see, get, install } = world(2, p, running({ deadlineAt: T0 + 3_600_000 }));
    w.ds = w.ds.map((d) => (d.deviceId === 'dev-1' ? { ...d, lastOnline: false } : d));
    step();
    expect(get('dev-1').status).toBe(RolloutStatus.Pending);
    expect(w.sent).toEqual(['dev-0']);
    install('dev-0');
    w.now += 3_000_000;
    see('dev-0', { type: 'telemetry', version: V });
    expect(get('dev-0').status).toBe(RolloutStatus.Succeeded);
    expect(w.c.status).toBe(CampaignStatus.Running); // waits for the pending device
    see('dev-1', { type: 'presence', online: true, firmwareVersion: '1.0.0' });
    expect(w.sent).toEqual(['dev-0', 'dev-1']);
    see('dev-1', { type: 'presence', online: false, firmwareVersion: '1.0.0' });
    expect(get('dev-1').status).toBe(RolloutStatus.Pending);
    see('dev-1', { type: 'presence', online: true, firmwareVersion: '1.0.0' });
    w.now += 10_000;
    see('dev-1', { type: 'telemetry', version: '1.0.0' }); // still the old version: a third offer
    w.now += 10_000;
    see('dev-1', { type: 'telemetry', version: '1.0.0' }); // budget spent
    expect(w.sent.filter((x) => x === 'dev-1')).toHaveLength(3);
    expect(get('dev-1').offers).toBe(3);
  });

  it('the deadline expires devices that never came back and ends the campaign', () => {
    const p = policy({ stages: [1], spreadSec: 0, advanceAt: 0.5, soakSec: 5 });
    const { w, step, see, get, install } = world(2, p, running({ deadlineAt: T0 + 100_000 }));
    w.ds = w.ds.map((d) => (d.deviceId === 'dev-1' ? { ...d, lastOnline: false } : d));
    step();
    install('dev-0');
    w.now += 5000;
    see('dev-0', { type: 'telemetry', version: V });
    expect(get('dev-0').status).toBe(RolloutStatus.Succeeded);
    expect(w.c.status).toBe(CampaignStatus.Running);
    w.now = T0 + 100_000;
    step();
    expect(w.c.status).toBe(CampaignStatus.Completed);
    expect(w.c.reason).toMatch(/^deadline: .*1 device\(s\) never came back/);
    expect(get('dev-1')).toMatchObject({ status: RolloutStatus.Expired, reason: 'offline until the campaign deadline' });
  });
});

describe('every result counts; no downgrade', () => {
  it('a FAILED command result fails the device; an operator abort leaves every device final with its reason', () => {
    const p = policy({ stages: [1], spreadSec: 0, abortAt: 1, minSample: 100 });
    const { w, step, see, get } = world(4, p);
    step();
    see('dev-0', { type: 'result', status: 'failed', message: 'firmware update crashed: ENOSPC' });
    expect(get('dev-0')).toMatchObject({ status: RolloutStatus.Failed, reason: 'device: firmware update crashed: ENOSPC' });
    see('dev-0', { type: 'progress', step: 'failed', reason: 'again' }); // the event after the result: ignored
    expect(get('dev-0').reason).toBe('device: firmware update crashed: ENOSPC');
    see('dev-1', { type: 'progress', step: 'installing' });
    const r = operate(w.c, w.ds, 'abort', w.now, 'bad batch');
    if ('error' in r) throw new Error(r.error);
    w.ds = apply(w.ds, r.changed);
    expect(r.campaign.reason).toBe('operator: bad batch');
    expect(get('dev-1')).toMatchObject({ status: RolloutStatus.Cancelled, reason: 'campaign aborted (operator: bad batch) while installing' });
    expect(w.ds.every((d) => isFinal(d.status))).toBe(true);
  });

  it('a device reporting a newer version is skipped, never downgraded, unless allowDowngrade', () => {
    const p = policy({ stages: [1], spreadSec: 0 });
    const { w, step, get } = world(2, p);
    w.ds = w.ds.map((d) => (d.deviceId === 'dev-1' ? { ...d, version: '3.0.0' } : d));
    step();
    expect(w.sent).toEqual(['dev-0']);
    expect(get('dev-1')).toMatchObject({ status: RolloutStatus.Skipped, reason: 'runs 3.0.0, newer than 2.0.0 (allowDowngrade not set)' });
    const q = policy({ stages: [1], spreadSec: 0, allowDowngrade: true });
    const ds = fleet(1, q, '3.0.0');
    expect(plan(running(), ds, T0, q, V).send).toEqual(['dev-0']);
  });

  it('operator pause stops starts; resume shifts pending starts; abort ends it for good', () => {
    const p = policy({ stages: [1], spreadSec: 100 });
    const ds = fleet(5, p);
    const paused = operate(running(), ds, 'pause', T0);
    if ('error' in paused) throw new Error(paused.error);
    expect(plan(paused.campaign, ds, T0 + 200_000, p, V).send).toEqual([]);
    const scheduled = apply(ds, plan(running(), ds, T0, p, V).changed);
    const resumed = operate(paused.campaign, scheduled, 'resume', T0 + 50_000);
    if ('error' in resumed) throw new Error(resumed.error);
    const before = new Map(scheduled.map((d) => [d.deviceId, d.startAt ?? 0]));
    expect(resumed.changed).toHaveLength(5);
    for (const d of resumed.changed) expect(d.startAt).toBe((before.get(d.deviceId) ?? 0) + 50_000);
    const aborted = operate(running(), ds, 'abort', T0);
    if ('error' in aborted) throw new Error(aborted.error);
    expect(aborted.campaign.status).toBe(CampaignStatus.Aborted);
    expect('error' in operate(aborted.campaign, ds, 'resume', T0)).toBe(true);
  });
});
