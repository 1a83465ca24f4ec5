import type { ParcelLockerSettings } from '@yulan/protos';
import {
  accept, checkSetting, intArg, refuse, type CommandCheck, type CommandOutcome, type SettingsOutcome,
} from './control.js';
import type { CompartmentState, ParcelLockerState } from './parcel-locker.js';

/**
 * Operator control of a locker (parcel-lockers.md "Commands an operator sends"): open a
 * compartment, lock/unlock it, clear it; the temperature band is a twin setting. Effects
 * land on the state at once and show in the next reading.
 */

/** How long the person the operator opened the door for keeps it open. */
export const REMOTE_OPEN_MS = 30_000;
/** Plausible chilled/ambient set points; outside this a value is a typo, not a band. */
export const TEMP_BAND_RANGE_C = [-25, 30] as const;

export function checkLockerCommand(s: ParcelLockerState, name: string, args: Record<string, string>): CommandCheck {
  switch (name) {
    case 'locker.open':
    case 'locker.lock':
    case 'locker.unlock':
    case 'locker.clear': {
      const c = intArg(args, 'compartment', 1, s.compartments.length);
      return c.ok ? accept() : refuse(c.message);
    }
    default:
      return refuse(`unsupported command "${name}" for a parcel-locker`);
  }
}

export function executeLockerCommand(prev: ParcelLockerState, name: string, args: Record<string, string>): CommandOutcome<ParcelLockerState> {
  const index = Number(args.compartment);
  const s: ParcelLockerState = { ...prev, compartments: prev.compartments.map((x) => (x.index === index ? { ...x } : x)) };
  const x = s.compartments.find((c) => c.index === index) as CompartmentState | undefined;
  if (!x) return { state: prev, ok: false, message: `no compartment ${args.compartment}` };
  switch (name) {
    case 'locker.open':
      if (x.doorOpen) return { state: prev, ok: true, message: `door ${index} already open` };
      Object.assign(x, { doorOpen: true, op: 'remote', openedAtMs: s.nowMs, closesAtMs: s.nowMs + REMOTE_OPEN_MS, ajarReported: false, shown: false });
      return { state: s, ok: true, message: `door ${index} opened` };
    case 'locker.lock':
      // The latch cannot engage on an open door.
      if (x.doorOpen) return { state: prev, ok: false, message: `door ${index} is open; cannot lock` };
      x.unlocked = false;
      return { state: s, ok: true, message: `compartment ${index} locked` };
    case 'locker.unlock':
      x.unlocked = true;
      return { state: s, ok: true, message: `compartment ${index} unlocked` };
    case 'locker.clear':
      x.occupied = false;
      x.parcelId = '';
      // A visit in progress must not re-fill (deposit) or "pick up" a cleared compartment.
      if (x.doorOpen) x.op = 'remote';
      return { state: s, ok: true, message: `compartment ${index} cleared` };
    default:
      return { state: prev, ok: false, message: `unsupported command "${name}"` };
  }
}

export function applyLockerSettings(prev: ParcelLockerState, settings: ParcelLockerSettings): SettingsOutcome<ParcelLockerState> {
  const errors: string[] = [];
  const [lo0, hi0] = prev.config.tempBandC;
  const lo = checkSetting(errors, 'temp_min_c', settings.tempMinC, ...TEMP_BAND_RANGE_C) ?? lo0;
  const hi = checkSetting(errors, 'temp_max_c', settings.tempMaxC, ...TEMP_BAND_RANGE_C) ?? hi0;
  if (lo === lo0 && hi === hi0) return { state: prev, errors };
  if (!(lo < hi)) {
    errors.push(`temperature band ${lo}..${hi} is empty; keeping ${lo0}..${hi0}`);
    return { state: prev, errors };
  }
  return { state: { ...prev, config: { ...prev.config, tempBandC: [lo, hi] } }, errors };
}

export function lockerSettings(s: ParcelLockerState): ParcelLockerSettings {
  return { tempMinC: s.config.tempBandC[0], tempMaxC: s.config.tempBandC[1] };
}
