import { Motion, Severity, type FallSensorTelemetry } from '@yulan/protos';
import { hazard, type Rng } from '../rng.js';
import {
  DAY_MS, DEFAULT_UTC_OFFSET_MIN, HOUR_MS, MINUTE_MS, clamp, localHour, round, type SimEvent, type StepResult,
} from './types.js';

export const FallOutcome = {
  /** The person stays on the floor: fall.detected, then fall.long_lie (critical). */
  LongLie: 'long_lie',
  /** The person gets up before the long-lie timer: fall.detected, then fall.cancelled. */
  Cancelled: 'cancelled',
  /** Decided by the rng (longLieProbability). */
  Random: 'random',
} as const;
export type FallOutcome = (typeof FallOutcome)[keyof typeof FallOutcome];

export interface FallSensorConfig {
  utcOffsetMin: number;
  wakeHour: number;
  sleepHour: number;
  /** MR60BHA1-style vital signs; false models a fall-only radar (no heart/breathing fields). */
  vitals: boolean;
  fallsPerDay: number;
  sosPerDay: number;
  outingsPerDay: number;
  /** Stage two of the radar's two-stage fall detection (elderly-care.md). */
  longLieAfterMs: number;
  fallOutcome: FallOutcome;
  longLieProbability: number;
  batteryDrainPctPerDay: number;
  lowBatteryPct: number;
  /** Scenario overrides (simulated ms epoch) for tests and demos; each fires once. */
  forceFallAt?: number;
  forceSosAt?: number;
}

export type Activity = 'asleep' | 'home' | 'away' | 'fallen';

export interface FallState {
  id: string;
  atMs: number;
  outcome: 'long_lie' | 'cancelled';
  /** When the person is up again (got up alone, or was helped after a long lie). */
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
  sosUntilMs: number;
  batteryPct: number;
  lowBatteryReported: boolean;
  restingHeartRate: number;
}

export function defaultFallSensorConfig(p: Partial<FallSensorConfig> = {}): FallSensorConfig {
  return {
    utcOffsetMin: DEFAULT_UTC_OFFSET_MIN, wakeHour: 6.5, sleepHour: 21.5, vitals: true, fallsPerDay: 1 / 45,
    sosPerDay: 1 / 60, outingsPerDay: 1.2, longLieAfterMs: 2 * MINUTE_MS, fallOutcome: FallOutcome.Random,
    longLieProbability: 0.35, batteryDrainPctPerDay: 0.5, lowBatteryPct: 20, ...p,
  };
}

export function initFallSensor(config: FallSensorConfig, startMs: number, rng: Rng): FallSensorState {
  return {
    config, nowMs: startMs, activity: 'home', awayUntilMs: 0, fall: null, fallCounter: 0, forcedFallDone: false,
    forcedSosDone: false, sosUntilMs: 0, batteryPct: rng.range(25, 100), lowBatteryReported: false,
    restingHeartRate: rng.range(58, 78),
  };
}

const ev = (type: string, severity: Severity, message: string, attributes: Record<string, string>): SimEvent => ({
  type, severity, message, attributes,
});

function isNight(hour: number, c: FallSensorConfig): boolean {
  return c.sleepHour > c.wakeHour ? hour >= c.sleepHour || hour < c.wakeHour : hour >= c.sleepHour && hour < c.wakeHour;
}

export function stepFallSensor(prev: FallSensorState, elapsedMs: number, rng: Rng): StepResult<FallSensorState, FallSensorTelemetry> {
  const c = prev.config;
  const s: FallSensorState = { ...prev, nowMs: prev.nowMs + elapsedMs, fall: prev.fall ? { ...prev.fall } : null };
  const events: SimEvent[] = [];
  const hour = localHour(s.nowMs, c.utcOffsetMin);

  // Battery: slow linear drain; a carer swaps it once it is nearly flat.
  s.batteryPct -= (c.batteryDrainPctPerDay * elapsedMs) / DAY_MS;
  if (s.batteryPct < c.lowBatteryPct && !s.lowBatteryReported) {
    s.lowBatteryReported = true;
    events.push(ev('battery.low', Severity.WARNING, `battery at ${s.batteryPct.toFixed(0)} %`, { battery_pct: s.batteryPct.toFixed(1) }));
  }
  if (s.batteryPct < 5) {
    s.batteryPct = 100;
    s.lowBatteryReported = false;
  }

  const startFall = (atMs: number, forced: boolean): void => {
    const outcome = c.fallOutcome === FallOutcome.Random
      ? (rng.chance(c.longLieProbability) ? 'long_lie' : 'cancelled')
      : c.fallOutcome;
    const upAtMs = outcome === 'cancelled'
      ? atMs + rng.range(0.1, 0.8) * c.longLieAfterMs
      : atMs + c.longLieAfterMs + rng.range(15, 60) * MINUTE_MS;
    s.fallCounter += 1;
    s.fall = { id: `fall-${s.fallCounter}`, atMs, outcome, upAtMs, longLieReported: false };
    s.activity = 'fallen';
    events.push(ev('fall.detected', Severity.WARNING, 'fall detected; awaiting long-lie confirmation', {
      fall_id: s.fall.id, at_ms: String(atMs), forced: String(forced),
    }));
  };
  const pressSos = (atMs: number, forced: boolean): void => {
    s.sosUntilMs = atMs + 30_000;
    events.push(ev('sos.pressed', Severity.CRITICAL, 'SOS button pressed', { at_ms: String(atMs), forced: String(forced) }));
  };

  // Scenario overrides first: they must fire regardless of routine (a demo at 03:00 too).
  if (c.forceFallAt !== undefined && !s.forcedFallDone && s.nowMs >= c.forceFallAt && s.fall === null) {
    s.forcedFallDone = true;
    startFall(Math.max(c.forceFallAt, prev.nowMs), true);
  }
  if (c.forceSosAt !== undefined && !s.forcedSosDone && s.nowMs >= c.forceSosAt) {
    s.forcedSosDone = true;
    pressSos(Math.max(c.forceSosAt, prev.nowMs), true);
  }

  if (s.activity !== 'fallen') {
    // Daily routine: asleep at night, at home by day with occasional outings.
    if (isNight(hour, c)) {
      s.activity = s.activity === 'away' && s.nowMs < s.awayUntilMs ? 'away' : 'asleep';
    } else if (s.activity === 'away') {
      if (s.nowMs >= s.awayUntilMs) s.activity = 'home';
    } else {
      s.activity = 'home';
      const awakeHours = (c.sleepHour - c.wakeHour + 24) % 24 || 24;
      if (rng.chance(hazard(c.outingsPerDay / awakeHours, elapsedMs))) {
        s.activity = 'away';
        s.awayUntilMs = s.nowMs + rng.range(0.5, 4) * HOUR_MS;
      } else if (rng.chance(hazard(c.fallsPerDay / awakeHours, elapsedMs))) {
        startFall(s.nowMs, false);
      } else if (rng.chance(hazard(c.sosPerDay / awakeHours, elapsedMs))) {
        pressSos(s.nowMs, false);
      }
    }
  }

  // Fall progression (may complete within the same step as the fall when steps are long).
  const f = s.fall;
  if (f) {
    if (f.outcome === 'long_lie' && !f.longLieReported && s.nowMs >= f.atMs + c.longLieAfterMs) {
      f.longLieReported = true;
      events.push(ev('fall.long_lie', Severity.CRITICAL, 'person still on the floor after a fall', {
        fall_id: f.id, at_ms: String(f.atMs), lying_ms: String(s.nowMs - f.atMs),
      }));
    }
    if (f.outcome === 'cancelled' && s.nowMs >= f.upAtMs) {
      events.push(ev('fall.cancelled', Severity.INFO, 'person got up; fall not confirmed', {
        fall_id: f.id, at_ms: String(f.atMs), lying_ms: String(Math.round(f.upAtMs - f.atMs)),
      }));
    }
    if (s.nowMs >= f.upAtMs) {
      s.fall = null;
      s.activity = 'home';
    }
  }

  return { state: s, reading: fallReading(s, rng), events };
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
    case 'fallen':
      motion = Motion.STILL;
      hr = s.restingHeartRate + 18 + rng.normal(0, 4);
      br = rng.normal(21, 2);
      movement = rng.range(0, 10);
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
