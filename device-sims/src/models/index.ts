import { DeviceKind, type KnownKind, type Telemetry } from '@yulan/protos';
import { createRng, type Rng } from '../rng.js';
import { defaultEnvMonitorConfig, initEnvMonitor, stepEnvMonitor, NOISE_ZONES, type EnvMonitorConfig } from './env-monitor.js';
import { ChargerModel, defaultEvChargerConfig, initEvCharger, stepEvCharger, type EvChargerConfig } from './ev-charger.js';
import { applyFallScenario, isFallScenario, type FallScenario, type ScenarioOptions } from './fall-scenarios.js';
import { defaultFallSensorConfig, initFallSensor, stepFallSensor, type FallSensorConfig } from './fall-sensor.js';
import { defaultParcelLockerConfig, initParcelLocker, stepParcelLocker, type ParcelLockerConfig } from './parcel-locker.js';
import type { SimEvent } from './types.js';

/** The kind-specific member of Telemetry's `reading` oneof. */
export type TelemetryReading = Pick<Telemetry, 'evCharger' | 'parcelLocker' | 'fallSensor' | 'envMonitor'>;

export interface ModelOverrides {
  evCharger?: Partial<EvChargerConfig>;
  parcelLocker?: Partial<ParcelLockerConfig>;
  fallSensor?: Partial<FallSensorConfig>;
  envMonitor?: Partial<EnvMonitorConfig>;
}

export interface ModelStep {
  /** Simulated time of the reading, ms epoch (the envelope's ts_ms). */
  tsMs: number;
  reading: TelemetryReading;
  events: SimEvent[];
  /** The device publishes nothing for this step (neither reading nor events): hung firmware. */
  silent: boolean;
}

/** A model with its state and rng bundled: the shape the transport and fleet drive. */
export interface DeviceModel {
  readonly kind: KnownKind;
  readonly nowMs: number;
  step(elapsedMs: number): ModelStep;
  /** Forces a named scenario from now on (fall sensors only; others throw RangeError). */
  scenario(name: FallScenario, opts?: ScenarioOptions): void;
}

type ApplyScenario<S> = (s: S, name: FallScenario, opts: ScenarioOptions) => S;

function bind<S extends { nowMs: number }, R>(
  kind: KnownKind, state: S, rng: Rng,
  step: (s: S, dt: number, rng: Rng) => { state: S; reading: R; events: SimEvent[]; silent?: boolean },
  wrap: (r: R) => TelemetryReading,
  apply?: ApplyScenario<S>,
): DeviceModel {
  let s = state;
  return {
    kind,
    get nowMs() {
      return s.nowMs;
    },
    step(elapsedMs) {
      if (!(elapsedMs >= 0) || !Number.isFinite(elapsedMs)) throw new RangeError(`elapsedMs must be finite and >= 0, got ${elapsedMs}`);
      const r = step(s, elapsedMs, rng);
      s = r.state;
      return { tsMs: s.nowMs, reading: wrap(r.reading), events: r.events, silent: r.silent ?? false };
    },
    scenario(name, opts = {}) {
      if (!isFallScenario(name)) throw new RangeError(`unknown scenario "${String(name)}"`);
      if (!apply) throw new RangeError(`scenarios apply to fall sensors only, not device kind ${kind}`);
      s = apply(s, name, opts);
    },
  };
}

/**
 * Creates a seeded model for one device. Per-device variety (DC or AC charger, fresh-food
 * locker, noise zone, vital-sign radar) is drawn from the same seed unless overridden, so a
 * fleet seed reproduces the whole fleet.
 */
export function createDeviceModel(kind: KnownKind, seed: number, startMs: number, overrides: ModelOverrides = {}): DeviceModel {
  const rng = createRng(seed);
  switch (kind) {
    case DeviceKind.EV_CHARGER: {
      const config = defaultEvChargerConfig({ model: rng.chance(0.25) ? ChargerModel.Dc60 : ChargerModel.Ac7, ...overrides.evCharger });
      return bind(kind, initEvCharger(config, startMs, rng), rng, stepEvCharger, (evCharger) => ({ evCharger }));
    }
    case DeviceKind.PARCEL_LOCKER: {
      const config = defaultParcelLockerConfig({
        compartments: rng.pick([12, 24, 36, 48]), freshFood: rng.chance(0.25), ...overrides.parcelLocker,
      });
      return bind(kind, initParcelLocker(config, startMs, rng), rng, stepParcelLocker, (parcelLocker) => ({ parcelLocker }));
    }
    case DeviceKind.FALL_SENSOR: {
      const config = defaultFallSensorConfig({
        vitals: rng.chance(0.7), wakeHour: rng.range(5.5, 8), sleepHour: rng.range(20.5, 23), ...overrides.fallSensor,
      });
      return bind(kind, initFallSensor(config, startMs, rng), rng, stepFallSensor, (fallSensor) => ({ fallSensor }),
        applyFallScenario);
    }
    case DeviceKind.ENV_MONITOR: {
      const config = defaultEnvMonitorConfig({ zone: rng.pick(NOISE_ZONES), ...overrides.envMonitor });
      return bind(kind, initEnvMonitor(config, startMs, rng), rng, stepEnvMonitor, (envMonitor) => ({ envMonitor }));
    }
    default:
      throw new RangeError(`unknown device kind ${String(kind)}`);
  }
}
