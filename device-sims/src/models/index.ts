import { DeviceKind, type DeviceSettings, type KnownKind, type Telemetry } from '@yulan/protos';
import { createRng, type Rng } from '../rng.js';
import { defaultEnvMonitorConfig, initEnvMonitor, stepEnvMonitor, NOISE_ZONES, type EnvMonitorConfig } from './env-monitor.js';
import { ChargerModel, defaultEvChargerConfig, initEvCharger, stepEvCharger, type EvChargerConfig } from './ev-charger.js';
import { applyFallScenario, isFallScenario, type FallScenario, type ScenarioOptions } from './fall-scenarios.js';
import { defaultFallSensorConfig, initFallSensor, stepFallSensor, type FallSensorConfig } from './fall-sensor.js';
import { defaultParcelLockerConfig, initParcelLocker, stepParcelLocker, type ParcelLockerConfig } from './parcel-locker.js';
import type { SimEvent } from './types.js';
import {
  REPORT_INTERVAL_RANGE_S, accept, checkSetting, type CommandCheck, type CommandOutcome, type SettingsOutcome,
} from './control.js';
import {
  applyChargerSettings, chargerSettings, checkChargerCommand, executeChargerCommand, rebootCharger,
} from './ev-charger-control.js';
import { applyLockerSettings, checkLockerCommand, executeLockerCommand, lockerSettings } from './parcel-locker-control.js';
import {
  applyEnvSettings, applyFallSettings, checkEnvCommand, checkFallCommand, envSettings, executeEnvCommand,
  executeFallCommand, fallSettings,
} from './sensor-control.js';

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
  /** Checks a command's name and string arguments against this device (REJECTED if not ok). */
  checkCommand(name: string, args: Record<string, string>): CommandCheck;
  /** Executes a checked command now (SUCCEEDED if ok, else FAILED); the effect shows in
   * the next step's reading. `reboot` here is only its effect on the model. */
  executeCommand(name: string, args: Record<string, string>): Omit<CommandOutcome<unknown>, 'state'>;
  /** Applies a twin's settings; returns the errors (those fields keep their value). */
  applySettings(settings: DeviceSettings | undefined): string[];
  /** The effective settings, for TwinReported. */
  settings(): DeviceSettings;
  /** Reading interval set by env.set_interval or a twin, seconds (undefined: the fleet's rate). */
  readonly reportIntervalS: number | undefined;
}

type SettingsKey = NonNullable<DeviceSettings['kind']>;

/** How one kind is controlled: the pure functions of the *-control.ts modules. */
interface KindControl<S, K extends SettingsKey> {
  key: K;
  check(s: S, name: string, args: Record<string, string>): CommandCheck;
  execute(s: S, name: string, args: Record<string, string>): CommandOutcome<S>;
  reboot?(s: S): S;
  apply(s: S, settings: NonNullable<DeviceSettings[K]>): SettingsOutcome<S>;
  settings(s: S): NonNullable<DeviceSettings[K]>;
}

type ApplyScenario<S> = (s: S, name: FallScenario, opts: ScenarioOptions) => S;

function bind<S extends { nowMs: number }, R, K extends SettingsKey>(
  kind: KnownKind, state: S, rng: Rng,
  step: (s: S, dt: number, rng: Rng) => { state: S; reading: R; events: SimEvent[]; silent?: boolean },
  wrap: (r: R) => TelemetryReading,
  control: KindControl<S, K>,
  apply?: ApplyScenario<S>,
): DeviceModel {
  let s = state;
  let reportIntervalS: number | undefined;
  return {
    get reportIntervalS() {
      return reportIntervalS;
    },
    checkCommand(name, args) {
      return name === 'reboot' ? accept(true) : control.check(s, name, args);
    },
    executeCommand(name, args) {
      if (name === 'reboot') {
        if (control.reboot) s = control.reboot(s);
        return { ok: true, message: 'rebooting' };
      }
      const r = control.execute(s, name, args);
      s = r.state;
      if (r.reportIntervalS !== undefined) reportIntervalS = r.reportIntervalS;
      return { ok: r.ok, message: r.message, ...(r.output && { output: r.output }), ...(r.reportIntervalS !== undefined && { reportIntervalS: r.reportIntervalS }) };
    },
    applySettings(settings) {
      const mine = settings?.[control.key];
      if (!settings || settings.kind === undefined) return [];
      if (settings.kind !== control.key || !mine) return [`settings are for ${settings.kind}, this device is ${control.key}; nothing applied`];
      const errors: string[] = [];
      const interval = checkSetting(errors, 'report_interval_s', mine.reportIntervalS, ...REPORT_INTERVAL_RANGE_S, true);
      if (interval !== undefined) reportIntervalS = interval;
      const r = control.apply(s, mine as NonNullable<DeviceSettings[K]>);
      s = r.state;
      return [...errors, ...r.errors];
    },
    settings() {
      const own = { ...control.settings(s), ...(reportIntervalS !== undefined && { reportIntervalS }) };
      return { kind: control.key, [control.key]: own } as DeviceSettings;
    },
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
      return bind(kind, initEvCharger(config, startMs, rng), rng, stepEvCharger, (evCharger) => ({ evCharger }), {
        key: 'evCharger', check: checkChargerCommand, execute: executeChargerCommand, reboot: (st) => rebootCharger(st),
        apply: applyChargerSettings, settings: chargerSettings,
      });
    }
    case DeviceKind.PARCEL_LOCKER: {
      const config = defaultParcelLockerConfig({
        compartments: rng.pick([12, 24, 36, 48]), freshFood: rng.chance(0.25), ...overrides.parcelLocker,
      });
      return bind(kind, initParcelLocker(config, startMs, rng), rng, stepParcelLocker, (parcelLocker) => ({ parcelLocker }), {
        key: 'parcelLocker', check: checkLockerCommand, execute: executeLockerCommand, apply: applyLockerSettings, settings: lockerSettings,
      });
    }
    case DeviceKind.FALL_SENSOR: {
      const config = defaultFallSensorConfig({
        vitals: rng.chance(0.7), wakeHour: rng.range(5.5, 8), sleepHour: rng.range(20.5, 23), ...overrides.fallSensor,
      });
      return bind(kind, initFallSensor(config, startMs, rng), rng, stepFallSensor, (fallSensor) => ({ fallSensor }), {
        key: 'fallSensor', check: (_st, name) => checkFallCommand(name), execute: (st, name) => executeFallCommand(st, name),
        apply: applyFallSettings, settings: fallSettings,
      }, applyFallScenario);
    }
    case DeviceKind.ENV_MONITOR: {
      const config = defaultEnvMonitorConfig({ zone: rng.pick(NOISE_ZONES), ...overrides.envMonitor });
      return bind(kind, initEnvMonitor(config, startMs, rng), rng, stepEnvMonitor, (envMonitor) => ({ envMonitor }), {
        key: 'envMonitor', check: (_st, name, args) => checkEnvCommand(name, args), execute: executeEnvCommand,
        // Sleep is a RAM state: a rebooted monitor comes back awake and reporting.
        reboot: (st) => ({ ...st, sleeping: false }), apply: applyEnvSettings, settings: envSettings,
      });
    }
    default:
      throw new RangeError(`unknown device kind ${String(kind)}`);
  }
}
