import { DeviceKind, Motion, Severity, type FallSensorTelemetry } from '@yulan/protos';
import { describe, expect, it } from 'vitest';
import {
  CANCEL_AFTER_MS, CLEAR_AFTER_MS, FALL_SCENARIOS, FallScenario, applyFallScenario, createDeviceModel, createRng,
  defaultFallSensorConfig, fallScenarioOverrides, initFallSensor, stepFallSensor, type FallSensorConfig, type SimEvent,
} from '../src/index.js';

const START = Date.UTC(2025, 2, 3, 1, 0, 0); // 09:00 in Shanghai: awake, at home
const AT = START + 10_000;
const MIN = 60_000;
const HOUR = 60 * MIN;
// No random happenings, no outings: only the scenario acts.
const quiet: Partial<FallSensorConfig> = { fallsPerDay: 0, sosPerDay: 0, outingsPerDay: 0 };

interface Tick { t: number; events: SimEvent[]; reading: FallSensorTelemetry; silent: boolean }

function play(overrides: Partial<FallSensorConfig>, durationMs: number, dtMs = 1000, seed = 5): Tick[] {
  const rng = createRng(seed);
  let s = initFallSensor(defaultFallSensorConfig({ ...quiet, ...overrides }), START, rng);
  const out: Tick[] = [];
  for (let t = 0; t < durationMs; t += dtMs) {
    const r = stepFallSensor(s, dtMs, rng);
    s = r.state;
    out.push({ t: s.nowMs, events: r.events, reading: r.reading, silent: r.silent });
  }
  return out;
}

/** [time the step ended, type, attributes] for every event. */
const sequence = (ticks: Tick[]): [number, string, Record<string, string>][] =>
  ticks.flatMap((k) => k.events.map((e) => [k.t, e.type, e.attributes] as [number, string, Record<string, string>]));
const severities = (ticks: Tick[]): Severity[] => ticks.flatMap((k) => k.events.map((e) => e.severity));

describe('fall-sensor scenarios (pure model, seeded)', () => {
  it('lists the names the CLI accepts', () => {
    expect(FALL_SCENARIOS).toEqual(['confirmed-fall', 'cancelled-fall', 'unconfirmed-fall', 'sos', 'low-battery', 'silent', 'inactive', 'normal']);
  });

  it('confirmed-fall: radar fall.detected, then fall.long_lie 120 s later; telemetry fall → long_lie', () => {
    const ticks = play(fallScenarioOverrides(FallScenario.ConfirmedFall, AT), 10 * MIN);
    const seq = sequence(ticks);
    const id = seq[0]?.[2].fall_id;
    expect(id).toMatch(/^fall-\d+-1$/);
    expect(seq).toEqual([
      [AT, 'fall.detected', { fall_id: id, source: 'radar', at_ms: String(AT) }],
      [AT + 2 * MIN, 'fall.long_lie', { fall_id: id, lying_ms: String(2 * MIN) }],
    ]);
    expect(severities(ticks)).toEqual([Severity.WARNING, Severity.CRITICAL]);
    for (const k of ticks) {
      const r = k.reading;
      expect(r.fall).toBe(k.t >= AT);
      expect(r.longLie).toBe(k.t >= AT + 2 * MIN);
      if (k.t >= AT) {
        expect(r.motion).toBe(Motion.STILL);
        expect(r.movementLevel).toBeLessThan(10);
      }
    }
  });

  it('cancelled-fall: wearable fall.detected, then fall.cancelled by=resident 8 s later, inside the 30 s window', () => {
    const ticks = play(fallScenarioOverrides(FallScenario.CancelledFall, AT), 10 * MIN);
    const seq = sequence(ticks);
    const id = seq[0]?.[2].fall_id;
    expect(CANCEL_AFTER_MS).toBeLessThan(30_000);
    expect(seq).toEqual([
      [AT, 'fall.detected', { fall_id: id, source: 'wearable', at_ms: String(AT) }],
      [AT + CANCEL_AFTER_MS, 'fall.cancelled', { fall_id: id, by: 'resident', lying_ms: String(CANCEL_AFTER_MS) }],
    ]);
    expect(severities(ticks)).toEqual([Severity.WARNING, Severity.INFO]);
    for (const k of ticks) {
      expect(k.reading.fall).toBe(k.t >= AT && k.t < AT + CANCEL_AFTER_MS);
      expect(k.reading.longLie).toBe(false);
    }
  });

  it('unconfirmed-fall: radar fall.detected, then fall.cleared 45 s later and never a long lie', () => {
    const ticks = play(fallScenarioOverrides(FallScenario.UnconfirmedFall, AT), 30 * MIN);
    const seq = sequence(ticks);
    const id = seq[0]?.[2].fall_id;
    expect(seq).toEqual([
      [AT, 'fall.detected', { fall_id: id, source: 'radar', at_ms: String(AT) }],
      [AT + CLEAR_AFTER_MS, 'fall.cleared', { fall_id: id, lying_ms: String(CLEAR_AFTER_MS) }],
    ]);
    expect(severities(ticks)).toEqual([Severity.WARNING, Severity.INFO]);
    for (const k of ticks) {
      expect(k.reading.fall).toBe(k.t >= AT && k.t < AT + CLEAR_AFTER_MS);
      expect(k.reading.longLie).toBe(false);
    }
  });

  it('sos: one critical sos.pressed; telemetry sos for 30 s', () => {
    const ticks = play(fallScenarioOverrides(FallScenario.Sos, AT), 5 * MIN);
    expect(sequence(ticks)).toEqual([[AT, 'sos.pressed', { at_ms: String(AT) }]]);
    expect(severities(ticks)).toEqual([Severity.CRITICAL]);
    for (const k of ticks) expect(k.reading.sos).toBe(k.t >= AT && k.t < AT + 30_000);
  });

  it('low-battery: battery.low once, under the threshold, and telemetry agrees', () => {
    const ticks = play(fallScenarioOverrides(FallScenario.LowBattery, AT), HOUR, 10_000);
    const seq = sequence(ticks);
    expect(seq).toEqual([[AT, 'battery.low', { battery_pct: expect.stringMatching(/^1\d\.\d$/) as unknown as string }]]);
    expect(severities(ticks)).toEqual([Severity.WARNING]);
    for (const k of ticks) if (k.t >= AT) expect(k.reading.batteryPct).toBeLessThan(20);
  });

  it('silent: nothing to publish while silent, even with a flood of random happenings; resumes after the window', () => {
    const busy = { fallsPerDay: 500, sosPerDay: 500, batteryDrainPctPerDay: 2000 };
    const ticks = play({ ...busy, ...fallScenarioOverrides(FallScenario.Silent, AT, { durationMs: 6 * HOUR }) }, 8 * HOUR, MIN);
    const during = ticks.filter((k) => k.t >= AT && k.t < AT + 6 * HOUR);
    expect(during.length).toBeGreaterThan(300);
    expect(during.every((k) => k.silent && k.events.length === 0)).toBe(true);
    const after = ticks.filter((k) => k.t >= AT + 6 * HOUR);
    expect(after.every((k) => !k.silent)).toBe(true);
    expect(after.some((k) => k.events.length > 0)).toBe(true);
    // Without a duration it stays silent until the next scenario.
    expect(play(fallScenarioOverrides(FallScenario.Silent, AT), 2 * 24 * HOUR, 10 * MIN).filter((k) => k.t >= AT).every((k) => k.silent)).toBe(true);
  });

  it('inactive: at home, motion NONE/STILL, movement_level < 10, no events, for 36 h; then the routine resumes', () => {
    const ticks = play({ ...fallScenarioOverrides(FallScenario.Inactive, AT), outingsPerDay: 3 }, 48 * HOUR, MIN);
    const during = ticks.filter((k) => k.t >= AT && k.t < AT + 36 * HOUR);
    expect(during.length).toBe(36 * 60);
    for (const k of during) {
      expect(k.reading.presence).toBe(true);
      expect([Motion.NONE, Motion.STILL]).toContain(k.reading.motion);
      expect(k.reading.movementLevel).toBeLessThan(10);
      expect(k.events).toEqual([]);
    }
    expect(ticks.filter((k) => k.t >= AT + 36 * HOUR).some((k) => k.reading.motion === Motion.MOVING)).toBe(true);
  });

  it('is deterministic: same seed and scenario, same ticks', () => {
    const o = fallScenarioOverrides(FallScenario.ConfirmedFall, AT);
    expect(play(o, 20 * MIN, 5000, 9)).toEqual(play(o, 20 * MIN, 5000, 9));
  });
});

describe('scenarios on a running model', () => {
  const model = (over: Partial<FallSensorConfig> = quiet) => createDeviceModel(DeviceKind.FALL_SENSOR, 3, START, { fallSensor: over });

  it('"scenario now" fires on the next step at the model clock', () => {
    const m = model();
    for (let i = 0; i < 30; i++) expect(m.step(1000).events).toEqual([]);
    const now = m.nowMs;
    m.scenario(FallScenario.ConfirmedFall);
    const first = m.step(1000);
    expect(first.events.map((e) => [e.type, e.attributes.source, e.attributes.at_ms])).toEqual([['fall.detected', 'radar', String(now)]]);
    expect(first.reading.fallSensor?.fall).toBe(true);
    const later = Array.from({ length: 180 }, () => m.step(1000)).flatMap((s) => s.events.map((e) => e.type));
    expect(later).toEqual(['fall.long_lie']);
  });

  it('a new fall scenario ends a fall in progress, and silent then normal stops and restarts publishing', () => {
    const m = model();
    m.scenario(FallScenario.ConfirmedFall);
    m.step(1000);
    m.scenario(FallScenario.CancelledFall);
    const seq = Array.from({ length: 60 }, () => m.step(1000)).flatMap((s) => s.events.map((e) => `${e.type}:${e.attributes.source ?? e.attributes.by}`));
    expect(seq).toEqual(['fall.detected:wearable', 'fall.cancelled:resident']);
    m.scenario(FallScenario.Silent);
    expect(Array.from({ length: 10 }, () => m.step(60_000).silent)).toEqual(Array(10).fill(true));
    m.scenario(FallScenario.Normal);
    expect(m.step(60_000).silent).toBe(false);
  });

  it('applyFallScenario is pure and re-arms forced happenings', () => {
    const rng = createRng(1);
    const s0 = initFallSensor(defaultFallSensorConfig(quiet), START, rng);
    const s1 = applyFallScenario(s0, FallScenario.Sos, { atMs: START + 5000 });
    expect(s0.config.forceSosAt).toBeUndefined();
    expect(s1.config.forceSosAt).toBe(START + 5000);
    const s2 = applyFallScenario({ ...s1, forcedSosDone: true }, FallScenario.Inactive);
    expect(s2.config.forceSosAt).toBeUndefined();
    expect(s2.config.inactiveFrom).toBe(START);
    expect(s2.forcedSosDone).toBe(false);
  });

  it('other kinds refuse scenarios', () => {
    const m = createDeviceModel(DeviceKind.EV_CHARGER, 1, START);
    expect(() => m.scenario(FallScenario.Sos)).toThrow(/fall sensors only/);
    expect(() => model().scenario('toast' as FallScenario)).toThrow(/unknown scenario/);
  });
});
