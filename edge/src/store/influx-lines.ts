import { Point } from '@influxdata/influxdb-client';
import type { AirIndexRecord, StoreRecord } from '../domain/records.js';

/**
 * Record → InfluxDB line protocol, using the client library's `Point` for escaping.
 *
 * Idempotency: a point is identified by measurement + tag set + timestamp, so a replayed
 * batch must produce the same timestamps. Readings and events use
 * `ts_ms·1e6 + seq mod 1e6` ns — unique per (device, seq) unless one device sends 1e6
 * sequence numbers within the same millisecond. Aggregates use the window start. The
 * timestamp is built as a decimal string because ns epochs exceed 2^53.
 * All numeric fields are written as floats: InfluxDB fixes a field's type per shard and a
 * value like `status=1` must not become an integer once and a float later.
 */
export const Measurement = {
  Reading: 'reading',
  Aggregate: 'agg_1m',
  Event: 'event',
  Presence: 'presence',
  /** Computed indices (edge/src/air), one measurement each. */
  Aqi: 'aqi',
  Noise: 'noise_level',
} as const;

/** Field-name prefixes of an air index's numeric values and labels. */
export const AIR_VALUE_PREFIX = 'v.';
export const AIR_LABEL_PREFIX = 'l.';

/** Text fields of readings are stored with this prefix so queries can tell them apart. */
export const TEXT_PREFIX = 'text.';

export function nsTimestamp(tsMs: number, seq: number): string {
  return `${tsMs}${String(seq % 1_000_000).padStart(6, '0')}`;
}

export function toLine(r: StoreRecord): string | undefined {
  if (r.type === 'air-index') return airIndexLine(r);
  const p = new Point().tag('device_id', r.deviceId).tag('site', r.site).tag('kind', r.kind);
  switch (r.type) {
    case 'reading':
      p.measurement(Measurement.Reading).intField('seq', r.seq).timestamp(nsTimestamp(r.tsMs, r.seq));
      for (const [k, v] of Object.entries(r.fields)) p.floatField(k, v);
      for (const [k, v] of Object.entries(r.text)) p.stringField(TEXT_PREFIX + k, v);
      break;
    case 'aggregate':
      p.measurement(Measurement.Aggregate).timestamp(`${r.windowStartMs}000000`);
      for (const [k, a] of Object.entries(r.fields)) {
        p.intField(`${k}.count`, a.count).floatField(`${k}.min`, a.min).floatField(`${k}.max`, a.max)
          .floatField(`${k}.mean`, a.mean).floatField(`${k}.last`, a.last);
      }
      break;
    case 'event':
      p.measurement(Measurement.Event).intField('seq', r.seq).stringField('type', r.eventType)
        .stringField('severity', r.severity).stringField('message', r.message)
        .stringField('attributes', JSON.stringify(r.attributes));
      // Events the edge derives itself (air-quality exceedances) carry a negative seq, apart
      // from every device's; a tag keeps them in their own series so a device event in the
      // same millisecond cannot overwrite one.
      if (r.seq < 0) p.tag('derived', r.eventType).timestamp(`${r.tsMs}000000`);
      else p.timestamp(nsTimestamp(r.tsMs, r.seq));
      break;
    case 'presence':
      p.measurement(Measurement.Presence).booleanField('online', r.online).stringField('reason', r.reason)
        .stringField('firmware', r.firmwareVersion).timestamp(`${r.tsMs}000000`);
      break;
  }
  // A point without fields (e.g. a reading with no numeric value) has no line.
  return p.toLineProtocol();
}

/** An air index is identified by (scope, id, period, start): a recomputed period
 * overwrites. valid, value and the labels are written every time (an invalid period as
 * valid=false, value=0) so they never go stale; InfluxDB keeps a numeric value a
 * recomputation no longer has, but periods are only computed once settled, from the same
 * stored aggregates. */
function airIndexLine(r: AirIndexRecord): string | undefined {
  const p = new Point(r.measure === 'aqi' ? Measurement.Aqi : Measurement.Noise)
    .tag('scope', r.scope).tag('id', r.scope === 'site' ? r.site : r.deviceId).tag('period', r.period).tag('site', r.site)
    .booleanField('valid', r.value !== null).floatField('value', r.value ?? 0).intField('end_ms', r.endMs)
    .timestamp(`${r.tsMs}000000`);
  for (const [k, v] of Object.entries(r.values)) p.floatField(AIR_VALUE_PREFIX + k, v);
  for (const [k, v] of Object.entries(r.labels)) p.stringField(AIR_LABEL_PREFIX + k, v);
  return p.toLineProtocol();
}

/** InfluxQL string literal. */
export function quote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
