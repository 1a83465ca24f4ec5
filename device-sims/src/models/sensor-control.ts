import type { EnvMonitorSettings, FallSensorSettings } from '@yulan/protos';
import {
  REPORT_INTERVAL_RANGE_S, accept, checkSetting, intArg, refuse,
  type CommandCheck, type CommandOutcome, type SettingsOutcome,
} from './control.js';
import { NOISE_LIMITS, type EnvMonitorState, type NoiseZone } from './env-monitor.js';
import type { FallSensorState } from './fall-sensor.js';

/** Operator control of fall sensors and environment monitors (docs/control.md §1). */

export const SENSITIVITY_RANGE = [1, 10] as const;
/** The "I'm fine" countdown: long enough to reach the button, short enough for care. */
export const CANCEL_WINDOW_RANGE_S = [5, 120] as const;
export const PM25_ALERT_RANGE = [1, 1000] as const;
export const NOISE_ALERT_RANGE_DBA = [30, 120] as const;

export function checkFallCommand(name: string): CommandCheck {
  return name === 'fall.test_alarm' ? accept() : refuse(`unsupported command "${name}" for a fall-sensor`);
}

export function executeFallCommand(prev: FallSensorState, name: string): CommandOutcome<FallSensorState> {
  if (name !== 'fall.test_alarm') return { state: prev, ok: false, message: `unsupported command "${name}"` };
  return { state: { ...prev, testAlarmPending: true }, ok: true, message: 'test alarm raised' };
}

export function applyFallSettings(prev: FallSensorState, settings: FallSensorSettings): SettingsOutcome<FallSensorState> {
  const errors: string[] = [];
  const sensitivity = checkSetting(errors, 'sensitivity', settings.sensitivity, ...SENSITIVITY_RANGE, true);
  const cancel = checkSetting(errors, 'cancel_window_s', settings.cancelWindowS, ...CANCEL_WINDOW_RANGE_S, true);
  const config = {
    ...prev.config,
    ...(sensitivity !== undefined && { sensitivity }),
    ...(cancel !== undefined && { cancelWindowMs: cancel * 1000 }),
  };
  return { state: { ...prev, config }, errors };
}

export function fallSettings(s: FallSensorState): FallSensorSettings {
  return { sensitivity: s.config.sensitivity, cancelWindowS: Math.round(s.config.cancelWindowMs / 1000) };
}

export function checkEnvCommand(name: string, args: Record<string, string>): CommandCheck {
  switch (name) {
    case 'env.sleep':
    case 'env.wake':
      return accept();
    case 'env.set_interval': {
      const v = intArg(args, 'interval_s', ...REPORT_INTERVAL_RANGE_S);
      return v.ok ? accept() : refuse(v.message);
    }
    default:
      return refuse(`unsupported command "${name}" for an env-monitor`);
  }
}

export function executeEnvCommand(prev: EnvMonitorState, name: string, args: Record<string, string>): CommandOutcome<EnvMonitorState> {
  switch (name) {
    case 'env.sleep':
      return { state: { ...prev, sleeping: true }, ok: true, message: prev.sleeping ? 'already asleep' : 'sleeping' };
    case 'env.wake':
      return { state: { ...prev, sleeping: false }, ok: true, message: prev.sleeping ? 'awake' : 'already awake' };
    case 'env.set_interval': {
      const interval = Number(args.interval_s);
      return { state: prev, ok: true, message: `reporting every ${interval} s`, reportIntervalS: interval };
    }
    default:
      return { state: prev, ok: false, message: `unsupported command "${name}"` };
  }
}

/** GB 3096 classes 0..4 on the wire; class 4 is 4a (roads) unless the device is already 4b
 * (railway), which the wire cannot express. */
export function zoneFromClass(cls: number, current: NoiseZone): NoiseZone {
  if (cls === 4) return current === '4b' ? '4b' : '4a';
  return String(cls) as NoiseZone;
}

export function applyEnvSettings(prev: EnvMonitorState, settings: EnvMonitorSettings): SettingsOutcome<EnvMonitorState> {
  const errors: string[] = [];
  const pm = checkSetting(errors, 'pm25_alert_ugm3', settings.pm25AlertUgm3, ...PM25_ALERT_RANGE);
  const noise = checkSetting(errors, 'noise_alert_dba', settings.noiseAlertDba, ...NOISE_ALERT_RANGE_DBA);
  const cls = checkSetting(errors, 'noise_zone_class', settings.noiseZoneClass, 0, 4, true);
  const zone = cls === undefined ? prev.config.zone : zoneFromClass(cls, prev.config.zone);
  if (!(zone in NOISE_LIMITS)) errors.push(`unknown zone ${zone}`);
  const config = {
    ...prev.config,
    zone,
    ...(pm !== undefined && { pm25AlertUgm3: pm }),
    ...(noise !== undefined && { noiseAlertDba: noise }),
  };
  return { state: { ...prev, config }, errors };
}

export function envSettings(s: EnvMonitorState): EnvMonitorSettings {
  const out: EnvMonitorSettings = { noiseZoneClass: Number(s.config.zone.slice(0, 1)) };
  if (s.config.pm25AlertUgm3 !== undefined) out.pm25AlertUgm3 = s.config.pm25AlertUgm3;
  if (s.config.noiseAlertDba !== undefined) out.noiseAlertDba = s.config.noiseAlertDba;
  return out;
}
