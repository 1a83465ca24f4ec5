import type { ReadingRecord } from './domain/records.js';
import type { LatestPoint } from './store/store.js';
import { faultOf, type FaultReason } from './domain/faults.js';

export interface FaultedEntry { deviceId: string; site: string; kind: string; ts: number; reason: FaultReason }

export interface LatestEntry {
  ts: number;
  seq: number;
  site: string;
  kind: string;
  fields: Record<string, number>;
  text: Record<string, string>;
}

/** Last reading per device (by device time, then seq), kept in memory for /v1/latest.
 * The devices whose latest reading is a fault (domain/faults.ts) are kept apart as it
 * changes, so /v1/faulted costs the faulted few, not a scan of every device. */
export class LatestCache {
  private readonly map = new Map<string, LatestEntry>();
  private readonly faults = new Map<string, FaultedEntry>();

  offer(deviceId: string, e: LatestEntry): void {
    const cur = this.map.get(deviceId);
    if (cur && (cur.ts > e.ts || (cur.ts === e.ts && cur.seq > e.seq))) return;
    this.map.set(deviceId, e);
    const reason = faultOf(e.kind, e.fields);
    if (reason) this.faults.set(deviceId, { deviceId, site: e.site, kind: e.kind, ts: e.ts, reason });
    else this.faults.delete(deviceId);
  }

  faulted(): FaultedEntry[] {
    return [...this.faults.values()];
  }

  offerReading(r: ReadingRecord): void {
    this.offer(r.deviceId, { ts: r.tsMs, seq: r.seq, site: r.site, kind: r.kind, fields: r.fields, text: r.text });
  }

  seed(points: LatestPoint[]): void {
    for (const p of points) {
      this.offer(p.deviceId, { ts: p.ts, seq: p.seq, site: p.site, kind: p.kind, fields: p.fields, text: p.text });
    }
  }

  /** Forgets the device's latest reading if it lies in [fromMs, toMs) (erasure). */
  forget(deviceId: string, fromMs: number, toMs: number): boolean {
    const e = this.map.get(deviceId);
    if (!e || e.ts < fromMs || e.ts >= toMs) return false;
    this.faults.delete(deviceId);
    return this.map.delete(deviceId);
  }

  get(ids?: string[]): Record<string, LatestEntry> {
    const out: Record<string, LatestEntry> = {};
    if (ids) {
      for (const id of ids) {
        const e = this.map.get(id);
        if (e) out[id] = e;
      }
    } else {
      for (const [id, e] of this.map) out[id] = e;
    }
    return out;
  }
}
