import type { DeviceSettings, TwinDesired, TwinReported } from '@yulan/protos';
import type { DeviceModel } from './models/index.js';

/** What the device remembers of its twin (kept across a simulated reboot, like flash). */
export interface TwinMemory {
  appliedVersion: number;
  error: string;
}

export const INITIAL_TWIN: TwinMemory = { appliedVersion: 0, error: '' };

/**
 * Applies a desired state to the model, if it is newer than the one applied (the retained
 * desired state is redelivered on every reconnect; an older one may arrive late). Invalid
 * values are reported in `error` and keep their previous setting; the rest applies.
 * Returns the report to publish either way, so a reconnecting device re-reports.
 */
export function applyTwinDesired(
  model: DeviceModel | undefined, mem: TwinMemory, desired: TwinDesired,
): { mem: TwinMemory; applied: boolean; report: Omit<TwinReported, 'header'> } {
  if (desired.version <= mem.appliedVersion) return { mem, applied: false, report: twinReport(model, mem) };
  const errors = model ? model.applySettings(desired.settings) : ['this simulator has no settings'];
  const next: TwinMemory = { appliedVersion: desired.version, error: errors.join('; ') };
  return { mem: next, applied: true, report: twinReport(model, next) };
}

export function twinReport(model: DeviceModel | undefined, mem: TwinMemory): Omit<TwinReported, 'header'> {
  const settings: DeviceSettings = model ? model.settings() : {};
  return { appliedVersion: mem.appliedVersion, settings, error: mem.error };
}
