import { RolloutStatus, isFinal, type DeviceRollout } from './engine.js';

/**
 * A live campaign's rollouts once another cloud changed the campaign (an operator's pause,
 * resume or abort committed there: control.ts): the runner's memory merged with the
 * database. Pure. Rows memory has not saved (`unsaved`: reports folded in since its last
 * write) hold observations the database lacks; every other row in memory is what the runner
 * last wrote, so the database's is as new or newer. Of an unsaved row:
 * - an outcome the device reported (a final status in memory) stays: it happened;
 * - else a final status in the database (an abort cancelled it there) wins;
 * - a scheduled device keeps its reports but takes the database's start time (a resume
 *   shifted it by the pause);
 * - else memory's, which only adds reports to what the database has.
 * `keep`: the rows where memory won, to be written.
 */
export function mergeRollouts(
  stored: readonly DeviceRollout[], memory: ReadonlyMap<string, DeviceRollout>, unsaved: ReadonlySet<string>,
): { devices: Map<string, DeviceRollout>; keep: DeviceRollout[] } {
  const devices = new Map<string, DeviceRollout>();
  const keep: DeviceRollout[] = [];
  for (const s of stored) {
    const m = memory.get(s.deviceId);
    let d = s;
    if (m && unsaved.has(s.deviceId)) {
      if (isFinal(m.status)) d = m;
      else if (isFinal(s.status)) d = s;
      else if (m.status === RolloutStatus.Scheduled && s.status === RolloutStatus.Scheduled) d = { ...m, startAt: s.startAt };
      else d = m;
    }
    devices.set(d.deviceId, d);
    if (d !== s) keep.push(d);
  }
  return { devices, keep };
}

/**
 * Puts a decision's changed rollouts in a live campaign's memory and takes the unsaved ones
 * with them (`rows`: what the save writes); `revert` puts memory back as it was if the save
 * was refused (another cloud wrote first), keeping any report folded in meanwhile.
 */
export function takeChanges(l: { devices: Map<string, DeviceRollout>; dirty: Set<string> }, changed: readonly DeviceRollout[]): { rows: DeviceRollout[]; revert(): void } {
  const before = changed.map((d) => [d, l.devices.get(d.deviceId), l.dirty.has(d.deviceId)] as const);
  for (const d of changed) {
    l.devices.set(d.deviceId, d);
    l.dirty.delete(d.deviceId);
  }
  const deferred = [...l.dirty].map((id) => l.devices.get(id) as DeviceRollout);
  l.dirty.clear();
  return {
    rows: [...changed, ...deferred],
    revert: () => {
      for (const d of deferred) l.dirty.add(d.deviceId);
      for (const [d, prev, wasUnsaved] of before) {
        // A report folded in meanwhile (apply() marked it unsaved) stays.
        if (prev && l.devices.get(d.deviceId) === d) l.devices.set(d.deviceId, prev);
        if (wasUnsaved) l.dirty.add(d.deviceId);
      }
    },
  };
}
