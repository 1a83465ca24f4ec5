import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CampaignStatus, DEFAULT_POLICY, RolloutStatus, assignStages, hasStarted, healthVerdict, newRollout, observe, operate, plan, stageCounts, startDelayMs,
  type CampaignPolicy, type CampaignState, type DeviceRollout, type Observation,
} from '../src/firmware/engine.js';
import { compareSemver } from '../src/firmware/semver.js';

const T0 = 1_700_000_000_000;
const policy = (over: Partial<CampaignPolicy> = {}): CampaignPolicy => ({ ...DEFAULT_POLICY, spreadSec: 10, soakSec: 60, seed: 42, ...over });
const running = (): CampaignState => ({ status: CampaignStatus.Running, stage: 0, stageStartedAt: T0, pausedAt: null, reason: null });
const fleet = (n: number, p: CampaignPolicy): DeviceRollout[] => {
  const ids = Array.from({ length: n }, (_, i) => `dev-${i}`);
  const stages = assignStages(ids, p.stages, p.seed);
  return ids.map((id) => newRollout(id, stages.get(id) ?? 0, T0));
};
const apply = (devices: DeviceRollout[], changed: DeviceRollout[]): DeviceRollout[] => {
  const m = new Map(changed.map((d) => [d.deviceId, d]));
  return devices.map((d) => m.get(d.deviceId) ?? d);
};

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

describe('plan', () => {
  it('starts the canary at its spread time, advances on success, completes', () => {
    const p = policy({ stages: [0.1, 1], spreadSec: 0, soakSec: 1 });
    let c = running();
    let ds = fleet(10, p);
    let r = plan(c, ds, T0, p);
    expect(r.send).toHaveLength(1);
    c = r.campaign;
    ds = apply(ds, r.changed);
    const canary = r.send[0] as string;
    ds = ds.map((d) => (d.deviceId === canary ? observe(d, { type: 'progress', step: 'installed', version: '2.0.0' }, T0 + 10, '2.0.0') : d));
    r = plan(c, ds, T0 + 500, p); // still soaking
    expect(r.send).toHaveLength(0);
    r = plan(r.campaign, apply(ds, r.changed), T0 + 2000, p);
    expect(r.campaign.stage).toBe(1);
    expect(r.send).toHaveLength(9);
    ds = apply(ds, r.changed).map((d) => (r.send.includes(d.deviceId) ? observe(d, { type: 'presence', online: true, firmwareVersion: '2.0.0' }, T0 + 2100, '2.0.0') : d));
    r = plan(r.campaign, ds, T0 + 5000, p);
    expect(r.campaign.status).toBe(CampaignStatus.Completed);
  });

  it('aborts when failures exceed abortAt, and skips the devices that never started', () => {
    const p = policy({ stages: [0.2, 1], spreadSec: 0 });
    let r = plan(running(), fleet(10, p), T0, p);
    let ds = apply(fleet(10, p), r.changed);
    ds = ds.map((d) => (r.send.includes(d.deviceId) && d.deviceId === r.send[0] ? observe(d, { type: 'progress', step: 'rolled_back', reason: 'boot' }, T0 + 1, '2.0.0') : d));
    r = plan(r.campaign, ds, T0 + 2, p);
    expect(r.campaign.status).toBe(CampaignStatus.Aborted);
    expect(r.campaign.reason).toMatch(/failed in stage 1/);
    expect(apply(ds, r.changed).filter((d) => d.status === RolloutStatus.Skipped)).toHaveLength(8);
  });

  it('health gate: error events, crash loops and false alarms above the pre-update rate fail a device', () => {
    const p = policy();
    const soaking: DeviceRollout = { ...newRollout('x', 0, T0), status: RolloutStatus.Soaking, sentAt: T0 + 3_600_000, installedAt: T0 + 3_600_000 };
    expect(healthVerdict(soaking, p)).toBeUndefined();
    expect(healthVerdict(observe(soaking, { type: 'event', eventType: 'charger.fault' }, T0, '2'), p)).toMatch(/error event/);
    const boot = (d: DeviceRollout) => [false, true, true].reduce<DeviceRollout>((x, online) => observe(x, { type: 'presence', online, firmwareVersion: '2' }, T0, '2'), d);
    expect(healthVerdict(boot(soaking), p)).toBeUndefined(); // broker-connect + birth of one boot count once
    const twice = boot(boot(soaking));
    expect(healthVerdict(twice, p)).toMatch(/crash loop/);
    const alarms = (d: DeviceRollout, n: number) => Array.from({ length: n }).reduce<DeviceRollout>((x) => observe(x, { type: 'event', eventType: 'fall.cancelled' }, T0, '2'), d);
    expect(healthVerdict(alarms(soaking, 1), p)).toBeUndefined();
    expect(healthVerdict(alarms(soaking, 2), p)).toMatch(/false alarms/);
    // a device that false-alarms a lot anyway is judged against its own rate
    const noisy = { ...alarms({ ...soaking, status: RolloutStatus.Waiting }, 200), status: RolloutStatus.Soaking };
    expect(healthVerdict(alarms(noisy, 2), p)).toBeUndefined();
  });

  it('operator pause stops starts; resume shifts pending starts; abort ends it', () => {
    const p = policy({ stages: [1], spreadSec: 100 });
    const ds = fleet(5, p);
    const paused = operate(running(), ds, 'pause', T0);
    if ('error' in paused) throw new Error(paused.error);
    expect(plan(paused.campaign, ds, T0 + 200_000, p).send).toEqual([]);
    const first = plan(running(), ds, T0, p);
    const scheduled = apply(ds, first.changed);
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

/** Random histories: ticks, device reports and operator actions, in any order. */
const stepArb = fc.oneof(
  fc.record({ kind: fc.constant('tick' as const), dt: fc.integer({ min: 0, max: 30_000 }) }),
  fc.record({
    kind: fc.constant('obs' as const), who: fc.nat(),
    obs: fc.constantFrom<Observation>(
      { type: 'progress', step: 'downloading', pct: 50 }, { type: 'progress', step: 'installed', version: '2.0.0' },
      { type: 'progress', step: 'failed', reason: 'x' }, { type: 'progress', step: 'rolled_back', reason: 'boot' },
      { type: 'event', eventType: 'charger.fault' }, { type: 'event', eventType: 'fall.cancelled' },
      { type: 'presence', online: true, firmwareVersion: '2.0.0' },
    ),
  }),
  fc.record({ kind: fc.constant('op' as const), action: fc.constantFrom('pause' as const, 'resume' as const, 'abort' as const) }),
);

describe('plan properties', () => {
  it('never starts more devices than the open stage holds; abort and pause stop new starts', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 60 }), fc.array(stepArb, { maxLength: 80 }), fc.integer({ min: 0, max: 1000 }),
      (n, steps, seed) => {
        const p = policy({ seed, stages: [0.05, 0.3, 1], spreadSec: 20, soakSec: 10, updateTimeoutSec: 60 });
        let c = running();
        let ds = fleet(n, p);
        let now = T0;
        const counts = stageCounts(n, p.stages);
        for (const s of steps) {
          if (s.kind === 'tick') {
            now += s.dt;
            const r = plan(c, ds, now, p);
            if (c.status !== CampaignStatus.Running || r.campaign.status !== CampaignStatus.Running) expect(r.send).toEqual([]);
            c = r.campaign;
            ds = apply(ds, r.changed);
          } else if (s.kind === 'obs') {
            const d = ds[s.who % ds.length] as DeviceRollout;
            ds = apply(ds, [observe(d, s.obs, now, '2.0.0')]);
          } else {
            const r = operate(c, ds, s.action, now);
            if (!('error' in r)) {
              c = r.campaign;
              ds = apply(ds, r.changed);
            }
          }
          const started = ds.filter((d) => hasStarted(d.status)).length;
          expect(started).toBeLessThanOrEqual(counts[c.stage] as number);
          expect(ds.every((d) => !hasStarted(d.status) || d.stage <= c.stage)).toBe(true);
          if (c.status === CampaignStatus.Aborted) expect(ds.some((d) => d.status === RolloutStatus.Waiting || d.status === RolloutStatus.Scheduled)).toBe(false);
        }
      },
    ), { numRuns: 300 });
  });
});
