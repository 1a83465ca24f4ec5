import { energyOf, isSoundLevelField, levelOf } from './noise.js';
import type { AggregateRecord, DeviceRef, FieldAggregate } from './records.js';

export const WINDOW_MS = 60_000;

interface FieldState {
  count: number;
  min: number;
  max: number;
  sum: number;
  last: number;
  lastTs: number;
  /** Sum of 10^(L/10) for sound levels (dB): they average as energy, not arithmetically.
   * Absent in windows restored from a snapshot written before energy averaging existed;
   * those few windows keep the arithmetic mean rather than mix the two. */
  energy?: number;
}

interface WindowState {
  start: number;
  fields: Record<string, FieldState>;
  /** Changed since last emitted. */
  dirty: boolean;
  /** Emitted at least once, i.e. closed; further data is late data. */
  closed: boolean;
  /** Edge time of the last emission; retention counts from here. */
  emittedAt: number;
}

interface DeviceAgg {
  ref: DeviceRef;
  /** Highest device time seen: a device's own clock also closes its windows. */
  watermark: number;
  /** Start of the newest window already forgotten; older data cannot be aggregated. */
  horizon: number;
  windows: Map<number, WindowState>;
}

export interface AggregatorOptions {
  graceMs: number;
  /** How long a closed window is kept to absorb late data. */
  lateRetentionMs: number;
}

export const AddResult = { Added: 'added', TooLate: 'too-late' } as const;
export type AddResult = (typeof AddResult)[keyof typeof AddResult];

/** Serialisable per-device state (for the outbox DB). */
export interface AggSnapshot {
  ref: DeviceRef;
  watermark: number;
  horizon: number;
  windows: { start: number; dirty: boolean; closed: boolean; emittedAt: number; fields: Record<string, FieldState> }[];
}

/**
 * 1-minute tumbling windows on device time, per device and numeric field. The mean of a
 * sound level (`*_dba`, `*_db`) is its energy mean, LAeq (GB 3096-2008), not the
 * arithmetic mean of decibels, which understates the level. A window closes
 * (is emitted) once either the edge clock or the device's own watermark passes
 * end + grace. It is then retained so late data updates it and the updated aggregate is
 * emitted again (stores overwrite by (device, window)); it is forgotten once the device
 * watermark passes end + grace + retention, or retention has elapsed on the edge clock
 * since its last emission. Data for a forgotten window is refused (`too-late`):
 * re-opening it would overwrite the stored aggregate with a partial one. Backfilled old
 * data (a device that buffered while offline) is aggregated normally because expiry never
 * looks at the edge clock alone before a window was emitted. Pure; the caller supplies
 * the clock.
 */
export class Aggregator {
  private readonly devices = new Map<string, DeviceAgg>();
  constructor(private readonly opts: AggregatorOptions) {}

  add(ref: DeviceRef, tsMs: number, fields: Record<string, number>, nowMs: number): AddResult {
    // Copy only the identity: callers pass whole readings, which must not leak into records.
    ref = { deviceId: ref.deviceId, site: ref.site, kind: ref.kind };
    let d = this.devices.get(ref.deviceId);
    if (!d) {
      d = { ref, watermark: tsMs, horizon: -Infinity, windows: new Map() };
      this.devices.set(ref.deviceId, d);
    }
    d.ref = ref;
    if (tsMs > d.watermark) d.watermark = tsMs;
    const start = tsMs - (tsMs % WINDOW_MS);
    let w = d.windows.get(start);
    if (!w) {
      if (start <= d.horizon || d.watermark >= start + this.expiryAfter) return AddResult.TooLate;
      w = { start, fields: {}, dirty: false, closed: false, emittedAt: nowMs };
      d.windows.set(start, w);
    }
    for (const name in fields) {
      const v = fields[name] as number;
      const f = w.fields[name];
      if (!f) {
        w.fields[name] = isSoundLevelField(name)
          ? { count: 1, min: v, max: v, sum: v, last: v, lastTs: tsMs, energy: energyOf(v) }
          : { count: 1, min: v, max: v, sum: v, last: v, lastTs: tsMs };
        continue;
      }
      f.count++;
      if (f.energy !== undefined) f.energy += energyOf(v);
      if (v < f.min) f.min = v;
      if (v > f.max) f.max = v;
      f.sum += v;
      // last-by-device-time: an out-of-order older reading does not replace it.
      if (tsMs >= f.lastTs) {
        f.last = v;
        f.lastTs = tsMs;
      }
    }
    w.dirty = true;
    return AddResult.Added;
  }

  /** Emits windows that are due (newly closed, or closed and updated by late data) and
   * forgets retained windows past retention. Returns the ids of devices whose state
   * changed, so the caller can persist exactly those. */
  collect(nowMs: number): { aggregates: AggregateRecord[]; changed: string[] } {
    const aggregates: AggregateRecord[] = [];
    const changed: string[] = [];
    for (const [id, d] of this.devices) {
      let touched = false;
      const clock = Math.max(nowMs, d.watermark);
      for (const [start, w] of d.windows) {
        if (clock >= start + WINDOW_MS + this.opts.graceMs && (w.dirty || !w.closed)) {
          aggregates.push(toRecord(d.ref, w));
          w.dirty = false;
          w.closed = true;
          w.emittedAt = nowMs;
          touched = true;
        } else if (
          w.closed && !w.dirty &&
          (d.watermark >= start + this.expiryAfter || nowMs - w.emittedAt >= this.opts.lateRetentionMs)
        ) {
          d.windows.delete(start);
          if (start > d.horizon) d.horizon = start;
          touched = true;
        }
      }
      if (touched) changed.push(id);
    }
    return { aggregates, changed };
  }

  /** Drops the device's windows that overlap [fromMs, toMs) (erasure): they hold erased
   * data and must never be emitted. Returns whether any was dropped. */
  forget(deviceId: string, fromMs: number, toMs: number): boolean {
    const d = this.devices.get(deviceId);
    if (!d) return false;
    let dropped = false;
    for (const start of [...d.windows.keys()]) {
      if (start < toMs && start + WINDOW_MS > fromMs) dropped = d.windows.delete(start) || dropped;
    }
    return dropped;
  }

  exportState(deviceId: string): AggSnapshot | undefined {
    const d = this.devices.get(deviceId);
    if (!d) return undefined;
    return {
      ref: d.ref,
      watermark: d.watermark,
      horizon: d.horizon,
      windows: [...d.windows.values()].map((w) => ({
        start: w.start, dirty: w.dirty, closed: w.closed, emittedAt: w.emittedAt, fields: w.fields,
      })),
    };
  }

  importState(snap: AggSnapshot): void {
    const windows = new Map<number, WindowState>();
    for (const w of snap.windows) windows.set(w.start, { ...w, fields: { ...w.fields } });
    this.devices.set(snap.ref.deviceId, { ref: snap.ref, watermark: snap.watermark, horizon: snap.horizon ?? -Infinity, windows });
  }

  get openWindows(): number {
    let n = 0;
    for (const d of this.devices.values()) n += d.windows.size;
    return n;
  }

  private get expiryAfter(): number {
    return WINDOW_MS + this.opts.graceMs + this.opts.lateRetentionMs;
  }
}

function toRecord(ref: DeviceRef, w: WindowState): AggregateRecord {
  const fields: Record<string, FieldAggregate> = {};
  for (const name in w.fields) {
    const f = w.fields[name] as FieldState;
    const mean = f.energy !== undefined ? levelOf(f.energy / f.count) : f.sum / f.count;
    fields[name] = { count: f.count, min: f.min, max: f.max, mean, last: f.last };
  }
  return { deviceId: ref.deviceId, site: ref.site, kind: ref.kind, type: 'aggregate', windowStartMs: w.start, fields };
}
