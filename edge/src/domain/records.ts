import type { KindSlug } from '@yulan/protos';

/** Plain records that flow from the decoder through the outbox into a store. JSON-safe
 * on purpose: the outbox persists them as JSON text. */
export interface DeviceRef {
  deviceId: string;
  site: string;
  kind: KindSlug;
}

export interface ReadingRecord extends DeviceRef {
  type: 'reading';
  seq: number;
  tsMs: number;
  fields: Record<string, number>;
  text: Record<string, string>;
}

export interface FieldAggregate {
  count: number;
  min: number;
  max: number;
  mean: number;
  last: number;
}

export interface AggregateRecord extends DeviceRef {
  type: 'aggregate';
  /** Start of the 1-minute window on device time, epoch ms. */
  windowStartMs: number;
  fields: Record<string, FieldAggregate>;
}

export interface EventRecord extends DeviceRef {
  type: 'event';
  seq: number;
  tsMs: number;
  eventType: string;
  severity: string;
  message: string;
  attributes: Record<string, string>;
}

export interface PresenceRecord extends DeviceRef {
  type: 'presence';
  tsMs: number;
  online: boolean;
  reason: string;
  firmwareVersion: string;
}

/** An air-quality index computed at the edge (edge/src/air): hourly/daily AQI (HJ 633)
 * or a day/night noise level (GB 3096), of one monitor or of a whole site. */
export interface AirIndexRecord extends DeviceRef {
  type: 'air-index';
  /** 'device': of the monitor `deviceId`; 'site': of every monitor at `site` (deviceId ''). */
  scope: AirScope;
  measure: AirMeasure;
  period: AirPeriod;
  /** Start of the period, epoch ms. */
  tsMs: number;
  endMs: number;
  /** AQI, or Leq in dB(A); null = invalid period (not enough data), never guessed. */
  value: number | null;
  /** e.g. iaqi.pm25, c.pm25 (the mean indexed), limit_dba, max_dba, minutes. */
  values: Record<string, number>;
  /** e.g. level, category, colour, primary (comma-separated), zone, exceeded. */
  labels: Record<string, string>;
}
export type AirScope = 'device' | 'site';
export type AirMeasure = 'aqi' | 'noise';
/** aqi: hour | day; noise: day (Ld) | night (Ln). */
export type AirPeriod = 'hour' | 'day' | 'night';

export type StoreRecord = ReadingRecord | AggregateRecord | EventRecord | PresenceRecord | AirIndexRecord;

/** Raw readings and aggregates may be dropped under outbox pressure; events and computed
 * indices never. */
export function isDroppable(r: StoreRecord): boolean {
  return r.type === 'reading' || r.type === 'aggregate';
}
