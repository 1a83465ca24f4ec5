import { Motion, Severity, type FallSensorTelemetry } from '@yulan/protos';
import { hazard, type Rng } from '../rng.js';
import {
  DAY_MS, DEFAULT_UTC_OFFSET_MIN, HOUR_MS, MINUTE_MS, clamp, localHour, round, type SimEvent, type StepResult,
} from './types.js';

// Who noticed the fall (docs/care.md §1): the shared wire vocabulary in protos.
import { FallSource } from '@yulan/protos';
export { FallSource };

export const FallOutcome = {
  /** The person stays on the floor: fall.detected, then fall.long_lie (critical, radar stage 2). */
  LongLie: 'long_lie',
  /** Radar: the person gets up before the long-lie timer: fall.detected, then fall.cleared. */
  Cleared: 'cleared',
  /** The resident presses "I'm fine" inside the cancel window: fall.detected, then fall.cancelled by=resident. */
  Cancelled: 'cancelled',
  /** Decided by the rng: radar falls by longLieProbability (else cleared), wearable falls by
   * wearableCancelProbability (else long lie, confirmed by the room radar). */
  Random: 'random',
} as const;
export type FallOutcome = (typeof FallOutcome)[keyof typeof FallOutcome];
type Resolved = Exclude<FallOutcome, 'random'>;

export interface FallSensorConfig {
  utcOffsetMin: number;
  wakeHour: number;
  sleepHour: number;
  /** MR60BHA1-style vital signs; false models a fall-only radar (no heart/breathing fields). */
  vitals: boolean;
  fallsPerDay: number;
  sosPerDay: number;
  outingsPerDay: number;
  /** Share of random falls first noticed by the wearable rather than the radar. */
  wearableFallShare: number;
  /** Stage two of the radar's two-stage fall detection (elderly-care.md). */
  longLieAfterMs: number;
  /** The device's local "I'm fine" countdown; a resident cancel always lands inside it. */
  cancelWindowMs: number;
  fallOutcome: FallOutcome;
  longLieProbability: number;
  wearableCancelProbability: number;
  batteryDrainPctPerDay: number;
  lowBatteryPct: number;
  /** Radar sensitivity 1..10 (twin); scales false alarms, see falseAlarmsPerDay(). */
  sensitivity: number;
  /** Radar false alarms per day at sensitivity 5 (a "fall" the radar clears quickly). */
  falseAlarmsAtDefault: number;
  /** Scenario overrides (simulated ms epoch) for tests and demos; each fires once. */
  forceFallAt?: number;
  /** Source and outcome of the forced fall only (random falls keep `fallOutcome`). */
  forceFallSource?: FallSource;
  forceFallOutcome?: FallOutcome;
  /** Forced fall: ms from the fall to fall.cleared / fall.cancelled (default drawn by the rng). */
  forceResolveAfterMs?: number;
  forceSosAt?: number;
  /** Battery drops just under `lowBatteryPct` at this time, so battery.low fires once. */
  forceLowBatteryAt?: number;
  /** [from, until): the device publishes nothing (hung firmware, see README). */
  silentFrom?: number;
  silentUntil?: number;
  /** [from, until): at home, no motion (NONE/STILL, movement < 10); no outings, falls or SOS. */
  inactiveFrom?: number;
  inactiveUntil?: number;
}

export type Activity = 'asleep' | 'home' | 'away' | 'fallen' | 'inactive';

export interface FallState {
  id: string;
  atMs: number;
  source: FallSource;
  outcome: Resolved;
  /** When the person is up again (got up alone, cancelled, or was helped after a long lie). */
  upAtMs: number;
  longLieReported: boolean;
}

export interface FallSensorState {
  config: FallSensorConfig;
  nowMs: number;
  activity: Activity;
  awayUntilMs: number;
  fall: FallState | null;
  fallCounter: number;
  forcedFallDone: boolean;
  forcedSosDone: boolean;
  forcedLowBatteryDone: boolean;
  sosUntilMs: number;
  batteryPct: number;
  lowBatteryReported: boolean;
  restingHeartRate: number;
  /** fall.test_alarm received; the next step raises `test.alarm`. */
  testAlarmPending: boolean;
}

/** A model step; `silent` asks the transport to publish nothing at all (no telemetry, no events). */
export interface FallStepResult extends StepResult<FallSensorState, FallSensorTelemetry> {
  silent: boolean;
}

export function defaultFallSensorConfig(p: Partial<FallSensorConfig> = {}): FallSensorConfig {
  return {
    utcOffsetMin: DEFAULT_UTC_OFFSET_MIN, wakeHour: 6.5, sleepHour: 21.5, vitals: true, fallsPerDay: 1 / 45,
    sosPerDay: 1 / 60, outingsPerDay: 1.2, wearableFallShare: 0.3, longLieAfterMs: 2 * MINUTE_MS, cancelWindowMs: 30_000,
    fallOutcome: FallOutcome.Random, longLieProbability: 0.35, wearableCancelProbability: 0.7, batteryDrainPctPerDay: 0.5,
    lowBatteryPct: 20, sensitivity: 5, falseAlarmsAtDefault: 1 / 40, ...p,
  };
}

export function initFallSensor(config: FallSensorConfig, startMs: number, rng: Rng): FallSensorState {
  return {
    config, nowMs: startMs, activity: 'home', awayUntilMs: 0, fall: null, fallCounter: 0, forcedFallDone: false,
    forcedSosDone: false, forcedLowBatteryDone: false, sosUntilMs: 0, batteryPct: rng.range(25, 100),
    lowBatteryReported: false, restingHeartRate: rng.range(58, 78), testAlarmPending: false,
  };
}

const ev = (type: string, severity: Severity, message: string, attributes: Record<string, string>): SimEvent => ({
  type, severity, message, attributes,
});

const within = (t: number, from: number | undefined, until: number | undefined): boolean =>
  from !== undefined && t >= from && (until === undefined || t < until);

/** False alarms grow with the square of the radar sensitivity (5 = the default rate). */
export function falseAlarmsPerDay(c: Pick<FallSensorConfig, 'sensitivity' | 'falseAlarmsAtDefault'>): number {
  return c.falseAlarmsAtDefault * (c.sensitivity / 5) ** 2;
}

function isNight(hour: number, c: FallSensorConfig): boolean {
  return c.sleepHour > c.wakeHour ? hour >= c.sleepHour || hour < c.wakeHour : hour >= c.sleepHour && hour < c.wakeHour;
}

export function stepFallSensor(prev: FallSensorState, elapsedMs: number, rng: Rng): FallStepResult {
  const c = prev.config;
  const s: FallSensorState = { ...prev, nowMs: prev.nowMs + elapsedMs, fall: prev.fall ? { ...prev.fall } : null };
  const events: SimEvent[] = [];
  const hour = localHour(s.nowMs, c.utcOffsetMin);

  // Hung firmware: nothing runs, nothing is sent; the clock and the battery go on.
  if (within(s.nowMs, c.silentFrom, c.silentUntil)) {
    s.batteryPct -= (c.batteryDrainPctPerDay * elapsedMs) / DAY_MS;
    return { state: s, reading: fallReading(s, rng), events, silent: true };
  }

  // Battery: slow linear drain; a carer swaps it once it is nearly flat.
  s.batteryPct -= (c.batteryDrainPctPerDay * elapsedMs) / DAY_MS;
  if (c.forceLowBatteryAt !== undefined && !s.forcedLowBatteryDone && s.nowMs >= c.forceLowBatteryAt) {
    s.forcedLowBatteryDone = true;
    s.batteryPct = Math.min(s.batteryPct, c.lowBatteryPct - 1);
    s.lowBatteryReported = false;
  }
  if (s.batteryPct < c.lowBatteryPct && !s.lowBatteryReported) {
    s.lowBatteryReported = true;
    events.push(ev('battery.low', Severity.WARNING, `battery at ${s.batteryPct.toFixed(0)} %`, { battery_pct: s.batteryPct.toFixed(1) }));
  }
  if (s.batteryPct < 5) {
    s.batteryPct = 100;
    s.lowBatteryReported = false;
  }

  if (s.testAlarmPending) {
    s.testAlarmPending = false;
    events.push(ev('test.alarm', Severity.INFO, 'test alarm requested by an operator', { at_ms: String(s.nowMs) }));
  }

  const startFall = (atMs: number, forced: boolean, falseAlarm = false): void => {
    const source: FallSource = falseAlarm ? FallSource.Radar : (forced ? c.forceFallSource : undefined)
      ?? (rng.chance(c.wearableFallShare) ? FallSource.Wearable : FallSource.Radar);
    const wanted = falseAlarm ? FallOutcome.Cleared : (forced ? c.forceFallOutcome : undefined) ?? c.fallOutcome;
    let outcome: Resolved;
    if (wanted !== FallOutcome.Random) outcome = wanted;
    else if (source === FallSource.Radar) outcome = rng.chance(c.longLieProbability) ? FallOutcome.LongLie : FallOutcome.Cleared;
    else outcome = rng.chance(c.wearableCancelProbability) ? FallOutcome.Cancelled : FallOutcome.LongLie;
    let upAtMs: number;
    if (outcome === FallOutcome.LongLie) {
      upAtMs = atMs + c.longLieAfterMs + rng.range(15, 60) * MINUTE_MS; // until someone helps
    } else if (outcome === FallOutcome.Cancelled) {
      // "I'm fine" is only possible while the countdown runs.
      const after = (forced ? c.forceResolveAfterMs : undefined) ?? rng.range(0.1, 0.7) * c.cancelWindowMs;
      upAtMs = atMs + clamp(after, 0, c.cancelWindowMs);
    } else {
      // Cleared means the radar saw the person up before stage two.
      const after = (forced ? c.forceResolveAfterMs : undefined) ?? rng.range(0.1, 0.8) * c.longLieAfterMs;
      upAtMs = atMs + clamp(after, 0, c.longLieAfterMs - 1);
    }
    s.fallCounter += 1;
    // Unique across simulator restarts (the counter alone restarts at 1).
    s.fall = { id: `fall-${atMs}-${s.fallCounter}`, atMs, source, outcome, upAtMs, longLieReported: false };
    s.activity = 'fallen';
    events.push(ev('fall.detected', Severity.WARNING,
      source === FallSource.Radar ? 'radar fall; awaiting long-lie confirmation' : 'wearable free-fall and impact; cancel window running', {
        fall_id: s.fall.id, source, at_ms: String(atMs),
      }));
  };
  const pressSos = (atMs: number): void => {
    s.sosUntilMs = atMs + 30_000;
    events.push(ev('sos.pressed', Severity.CRITICAL, 'SOS button pressed', { at_ms: String(atMs) }));
  };

  // Scenario overrides first: they must fire regardless of routine (a demo at 03:00 too).
  if (c.forceFallAt !== undefined && !s.forcedFallDone && s.nowMs >= c.forceFallAt && s.fall === null) {
    s.forcedFallDone = true;
    startFall(Math.max(c.forceFallAt, prev.nowMs), true);
  }
  if (c.forceSosAt !== undefined && !s.forcedSosDone && s.nowMs >= c.forceSosAt) {
    s.forcedSosDone = true;
    pressSos(Math.max(c.forceSosAt, prev.nowMs));
  }

  const inactive = within(s.nowMs, c.inactiveFrom, c.inactiveUntil);
  if (s.activity !== 'fallen') {
    if (inactive) {
      // At home but not moving (unwell, or sitting for hours): the wellness rules' case.
      s.activity = 'inactive';
    } else if (isNight(hour, c)) {
      // Daily routine: asleep at night, at home by day with occasional outings.
      s.activity = s.activity === 'away' && s.nowMs < s.awayUntilMs ? 'away' : 'asleep';
    } else if (s.activity === 'away') {
      if (s.nowMs >= s.awayUntilMs) s.activity = 'home';
    } else {
      s.activity = 'home';
      const awakeHours = (c.sleepHour - c.wakeHour + 24) % 24 || 24;
      if (rng.chance(hazard(c.outingsPerDay / awakeHours, elapsedMs))) {
        s.activity = 'away';
        s.awayUntilMs = s.nowMs + rng.range(0.5, 4) * HOUR_MS;
      } else if (rng.chance(hazard((c.fallsPerDay + falseAlarmsPerDay(c)) / awakeHours, elapsedMs))) {
        // A radar false alarm looks like a fall the person "gets up" from (cleared).
        startFall(s.nowMs, false, rng.chance(falseAlarmsPerDay(c) / (c.fallsPerDay + falseAlarmsPerDay(c))));
      } else if (rng.chance(hazard(c.sosPerDay / awakeHours, elapsedMs))) {
        pressSos(s.nowMs);
      }
    }
  }

  // Fall progression (may complete within the same step as the fall when steps are long).
  const f = s.fall;
  if (f) {
    if (f.outcome === FallOutcome.LongLie && !f.longLieReported && s.nowMs >= f.atMs + c.longLieAfterMs) {
      f.longLieReported = true;
      events.push(ev('fall.long_lie', Severity.CRITICAL, 'person still on the floor after a fall', {
        fall_id: f.id, lying_ms: String(s.nowMs - f.atMs),
      }));
    }
    if (s.nowMs >= f.upAtMs) {
      const lying = String(Math.round(f.upAtMs - f.atMs));
      if (f.outcome === FallOutcome.Cancelled) {
        events.push(ev('fall.cancelled', Severity.INFO, 'resident pressed "I\'m fine"', { fall_id: f.id, by: 'resident', lying_ms: lying }));
      } else if (f.outcome === FallOutcome.Cleared) {
        events.push(ev('fall.cleared', Severity.INFO, 'person got up before the long-lie timer', { fall_id: f.id, lying_ms: lying }));
      }
      // After a long lie the person was helped up: the radar's fall frame returns to 00
      // silently; the carers close the alert, not the device.
      s.fall = null;
      s.activity = inactive ? 'inactive' : 'home';
    }
  }

  return { state: s, reading: fallReading(s, rng), events, silent: false };
}

function fallReading(s: FallSensorState, rng: Rng): FallSensorTelemetry {
  const c = s.config;
  let motion: Motion = Motion.NONE;
  let hr = s.restingHeartRate;
  let br = 15;
  let movement = 0;
  switch (s.activity) {
    case 'asleep': {
      const turning = rng.chance(0.08);
      motion = turning ? Motion.MOVING : Motion.STILL;
      hr = s.restingHeartRate - 8 + rng.normal(0, 2);
      br = rng.normal(13, 1);
      movement = turning ? rng.range(15, 35) : rng.range(0, 8);
      break;
    }
    case 'home': {
      const moving = rng.chance(0.6);
      motion = moving ? Motion.MOVING : Motion.STILL;
      hr = s.restingHeartRate + (moving ? 12 : 2) + rng.normal(0, 3);
      br = rng.normal(moving ? 18 : 15, 1.5);
      movement = moving ? rng.range(25, 85) : rng.range(3, 20);
      break;
    }
    case 'inactive':
      motion = rng.chance(0.5) ? Motion.NONE : Motion.STILL;
      hr = s.restingHeartRate - 2 + rng.normal(0, 2);
      br = rng.normal(14, 1);
      movement = rng.range(0, 8);
      break;
    case 'fallen':
      motion = Motion.STILL;
      hr = s.restingHeartRate + 18 + rng.normal(0, 4);
      br = rng.normal(21, 2);
      movement = rng.range(0, 9);
      break;
    case 'away':
      break;
  }
  const presence = s.activity !== 'away';
  const reading: FallSensorTelemetry = {
    presence,
    motion,
    fall: s.fall !== null,
    longLie: s.fall?.longLieReported ?? false,
    sos: s.nowMs < s.sosUntilMs,
    batteryPct: round(clamp(s.batteryPct, 0, 100), 1),
    movementLevel: round(movement, 0),
  };
  if (c.vitals && presence) {
    reading.heartRateBpm = round(clamp(hr, 40, 140), 0);
    reading.breathingRateBpm = round(clamp(br, 6, 35), 0);
  }
  return reading;
}
