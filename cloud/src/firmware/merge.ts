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
