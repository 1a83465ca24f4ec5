import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Aggregator } from '../src/domain/aggregator.js';
import { MINUTE_MS, localDay } from '../src/domain/local-time.js';
import {
  DEFAULT_NOISE_PERIODS, NOISE_LIMITS, dayNightLevels, energyMean, isNoiseZone, periodBounds, type MinuteLevel,
} from '../src/domain/noise.js';

const SH = 480; // Asia/Shanghai, UTC+8
const ref = { deviceId: 'env-1', site: 'site-1', kind: 'env-monitor' as const };

describe('energy averaging of sound levels', () => {
  it('60 dB and 80 dB average to 77 dB, not 70', () => {
    expect(energyMean([60, 80])).toBeCloseTo(77.03, 2);
    expect(energyMean([55, 55, 55])).toBeCloseTo(55, 10);
    expect(energyMean([])).toBeUndefined();
  });

  it('lies between the arithmetic mean and the maximum (property)', () => {
    fc.assert(fc.property(fc.array(fc.double({ min: 20, max: 130, noNaN: true }), { minLength: 1, maxLength: 50 }), (ls) => {
      const leq = energyMean(ls) as number;
      const arith = ls.reduce((a, b) => a + b, 0) / ls.length;
      expect(leq).toBeGreaterThanOrEqual(arith - 1e-9);
      expect(leq).toBeLessThanOrEqual(Math.max(...ls) + 1e-9);
    }));
  });

  it('the 1-minute aggregate of noise_dba is its LAeq; other fields keep the arithmetic mean', () => {
    const agg = new Aggregator({ graceMs: 0, lateRetentionMs: 60_000 });
    const t0 = Date.UTC(2024, 5, 1, 2, 0, 0);
    agg.add(ref, t0, { noise_dba: 60, pm25_ugm3: 10 }, t0);
    agg.add(ref, t0 + 1000, { noise_dba: 80, pm25_ugm3: 30 }, t0);
    const [a] = agg.collect(t0 + 2 * MINUTE_MS).aggregates;
    expect(a?.fields.noise_dba?.mean).toBeCloseTo(77.03, 2);
    expect(a?.fields.noise_dba).toMatchObject({ count: 2, min: 60, max: 80, last: 80 });
    expect(a?.fields.pm25_ugm3?.mean).toBe(20);
  });

  it('keeps the energy mean across a snapshot and restore in the middle of a window', () => {
    const opts = { graceMs: 0, lateRetentionMs: 60_000 };
    const t0 = Date.UTC(2024, 5, 1, 2, 0, 0);
    const a = new Aggregator(opts);
    a.add(ref, t0, { noise_dba: 60 }, t0);
    const b = new Aggregator(opts);
    b.importState(JSON.parse(JSON.stringify(a.exportState(ref.deviceId))));
    b.add(ref, t0 + 1000, { noise_dba: 80 }, t0);
    expect(b.collect(t0 + 2 * MINUTE_MS).aggregates[0]?.fields.noise_dba?.mean).toBeCloseTo(77.03, 2);
  });
});

describe('GB 3096-2008 day and night levels', () => {
  const day = localDay(Date.UTC(2024, 5, 1, 4, 0, 0), SH); // 2024-06-01 local
  const minutes = (from: number, to: number, leq: (t: number) => number, every = 1): MinuteLevel[] => {
    const out: MinuteLevel[] = [];
    for (let t = from, i = 0; t < to; t += MINUTE_MS, i++) if (i % every === 0) out.push({ startMs: t, leq: leq(t), max: leq(t) + 3 });
    return out;
  };

  it('zone limits are the standard table', () => {
    expect(NOISE_LIMITS['1']).toEqual({ day: 55, night: 45 });
    expect(NOISE_LIMITS['4b']).toEqual({ day: 70, night: 60 });
    expect(isNoiseZone('4a')).toBe(true);
    expect(isNoiseZone('5')).toBe(false);
    expect(isNoiseZone('constructor')).toBe(false);
  });

  it('Ld covers 06:00–22:00 and Ln 22:00–06:00 local time, each an energy mean judged on the zone limit', () => {
    const b = periodBounds(day, DEFAULT_NOISE_PERIODS, SH);
    expect(new Date(b.day[0]).toISOString()).toBe('2024-05-31T22:00:00.000Z'); // 06:00 +08:00
    expect(new Date(b.night[1]).toISOString()).toBe('2024-06-01T22:00:00.000Z'); // next 06:00 +08:00
    const data = [
      ...minutes(b.day[0], b.day[1], (t) => (t < b.day[0] + 8 * 3_600_000 ? 50 : 70)),
      ...minutes(b.night[0], b.night[1], () => 44),
    ];
    const r = dayNightLevels(data, day, '2', DEFAULT_NOISE_PERIODS, SH);
    expect(r.day.leq).toBeCloseTo(energyMean([50, 70]) as number, 6); // half the day at each
    expect(r.day).toMatchObject({ limit: 60, exceeded: true, minutes: 960, expectedMinutes: 960 });
    expect(r.night).toMatchObject({ limit: 50, exceeded: false, minutes: 480 });
    expect(r.night.leq).toBeCloseTo(44, 6);
  });

  it('a period with less than 75 % of its minutes is invalid, not guessed', () => {
    const b = periodBounds(day, DEFAULT_NOISE_PERIODS, SH);
    const sparse = minutes(b.day[0], b.day[1], () => 80, 2); // every other minute: 50 %
    const r = dayNightLevels(sparse, day, '2', DEFAULT_NOISE_PERIODS, SH);
    expect(r.day.leq).toBeUndefined();
    expect(r.day.exceeded).toBe(false);
    expect(r.night.leq).toBeUndefined();
    const enough = minutes(b.day[0], b.day[0] + 720 * MINUTE_MS, () => 80); // 720 of 960 = 75 %
    expect(dayNightLevels(enough, day, '2', DEFAULT_NOISE_PERIODS, SH).day.leq).toBeCloseTo(80, 6);
  });

  it('at night a single peak more than 15 dB over the limit is an exceedance on its own', () => {
    const b = periodBounds(day, DEFAULT_NOISE_PERIODS, SH);
    const quiet = minutes(b.night[0], b.night[1], () => 40);
    const peak = [...quiet.slice(1), { startMs: b.night[0], leq: 50, max: 66 }];
    expect(dayNightLevels(quiet, day, '2', DEFAULT_NOISE_PERIODS, SH).night.exceeded).toBe(false);
    expect(dayNightLevels(peak, day, '2', DEFAULT_NOISE_PERIODS, SH).night.exceeded).toBe(true); // 66 > 50 + 15
  });

  it('the day period is configurable and validated', () => {
    const b = periodBounds(day, { dayStart: '07:00', nightStart: '23:00' }, SH);
    expect(b.night[1] - b.night[0]).toBe(8 * 3_600_000);
    expect(new Date(b.day[0]).toISOString()).toBe('2024-05-31T23:00:00.000Z');
    expect(() => periodBounds(day, { dayStart: '22:00', nightStart: '06:00' }, SH)).toThrow(RangeError);
    expect(() => periodBounds(day, { dayStart: '6', nightStart: '22:00' }, SH)).toThrow(RangeError);
  });
});
