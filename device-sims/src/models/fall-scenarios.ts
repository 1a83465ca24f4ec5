import { FallOutcome, FallSource, type FallSensorConfig, type FallSensorState } from './fall-sensor.js';
import { HOUR_MS } from './types.js';

/**
 * Named, deterministic situations a test or demo can force on a fall sensor
 * (docs/care.md §1 lists the events; each scenario produces one exact sequence).
 */
export const FallScenario = {
  /** Radar fall, then long lie after `longLieAfterMs`: fall.detected(radar) → fall.long_lie. */
  ConfirmedFall: 'confirmed-fall',
  /** Wearable fall, resident presses "I'm fine" 8 s later: fall.detected(wearable) → fall.cancelled(by=resident). */
  CancelledFall: 'cancelled-fall',
  /** Radar fall, person up after 45 s (before the long-lie timer): fall.detected(radar) → fall.cleared. */
  UnconfirmedFall: 'unconfirmed-fall',
  /** SOS button: sos.pressed; telemetry `sos` true for 30 s. */
  Sos: 'sos',
  /** Battery drops under the threshold: battery.low once. */
  LowBattery: 'low-battery',
  /** Hung firmware: no telemetry, no events; the MQTT session stays up (keepalive answered). */
  Silent: 'silent',
  /** At home, no motion (NONE/STILL, movement_level < 10) for `durationMs` (default 36 h). */
  Inactive: 'inactive',
  /** Ends silent/inactive windows and pending forced happenings: back to the daily routine. */
  Normal: 'normal',
} as const;
export type FallScenario = (typeof FallScenario)[keyof typeof FallScenario];
export const FALL_SCENARIOS: readonly FallScenario[] = Object.values(FallScenario);

export function isFallScenario(name: string): name is FallScenario {
  return (FALL_SCENARIOS as readonly string[]).includes(name);
}

export const CANCEL_AFTER_MS = 8_000;
export const CLEAR_AFTER_MS = 45_000;
export const INACTIVE_DEFAULT_MS = 36 * HOUR_MS;

export interface ScenarioOptions {
  /** When the scenario starts, simulated ms epoch; default: the model's clock (now). */
  atMs?: number;
  /** How long `silent` / `inactive` last; default: silent until the next scenario, inactive 36 h. */
  durationMs?: number;
}

/** Every field a scenario may set; applying one scenario resets the others' fields. */
const SCENARIO_KEYS = [
  'forceFallAt', 'forceFallSource', 'forceFallOutcome', 'forceResolveAfterMs', 'forceSosAt', 'forceLowBatteryAt',
  'silentFrom', 'silentUntil', 'inactiveFrom', 'inactiveUntil',
] as const satisfies readonly (keyof FallSensorConfig)[];

/**
 * The config overrides of a scenario starting at `atMs` (simulated ms epoch): pass them
 * as `fallSensor` overrides to createDeviceModel/defaultFallSensorConfig, like forceFallAt.
 */
export function fallScenarioOverrides(name: FallScenario, atMs: number, opts: ScenarioOptions = {}): Partial<FallSensorConfig> {
  switch (name) {
    case FallScenario.ConfirmedFall:
      return { forceFallAt: atMs, forceFallSource: FallSource.Radar, forceFallOutcome: FallOutcome.LongLie };
    case FallScenario.CancelledFall:
      return {
        forceFallAt: atMs, forceFallSource: FallSource.Wearable, forceFallOutcome: FallOutcome.Cancelled,
        forceResolveAfterMs: CANCEL_AFTER_MS,
      };
    case FallScenario.UnconfirmedFall:
      return {
        forceFallAt: atMs, forceFallSource: FallSource.Radar, forceFallOutcome: FallOutcome.Cleared,
        forceResolveAfterMs: CLEAR_AFTER_MS,
      };
    case FallScenario.Sos:
      return { forceSosAt: atMs };
    case FallScenario.LowBattery:
      return { forceLowBatteryAt: atMs };
    case FallScenario.Silent:
      return { silentFrom: atMs, ...(opts.durationMs !== undefined && { silentUntil: atMs + opts.durationMs }) };
    case FallScenario.Inactive:
      return { inactiveFrom: atMs, inactiveUntil: atMs + (opts.durationMs ?? INACTIVE_DEFAULT_MS) };
    case FallScenario.Normal:
      return {};
  }
}

/**
 * A running model switched to a scenario "now" (`opts.atMs`, default its clock): earlier
 * scenario fields are dropped, forced happenings re-armed, and a fall in progress ends
 * without an event, so a forced fall starts at once instead of waiting for it.
 */
export function applyFallScenario(state: FallSensorState, name: FallScenario, opts: ScenarioOptions = {}): FallSensorState {
  const atMs = opts.atMs ?? state.nowMs;
  const config: FallSensorConfig = { ...state.config };
  for (const k of SCENARIO_KEYS) delete config[k];
  Object.assign(config, fallScenarioOverrides(name, atMs, opts));
  const fallScenario = config.forceFallAt !== undefined;
  return {
    ...state,
    config,
    forcedFallDone: false,
    forcedSosDone: false,
    forcedLowBatteryDone: false,
    ...(fallScenario && state.fall && { fall: null, activity: 'home' as const }),
  };
}
