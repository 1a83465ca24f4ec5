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

export type StoreRecord = ReadingRecord | AggregateRecord | EventRecord | PresenceRecord;

/** Raw readings and aggregates may be dropped under outbox pressure; events never. */
export function isDroppable(r: StoreRecord): boolean {
  return r.type === 'reading' || r.type === 'aggregate';
}
