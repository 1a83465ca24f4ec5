import type {
  AggregateRecord, AirMeasure, AirPeriod, AirScope, EventRecord, FieldAggregate, StoreRecord,
} from '../domain/records.js';

export interface TimeRange {
  deviceId: string;
  /** Inclusive, epoch ms. */
  fromMs: number;
  /** Exclusive, epoch ms. */
  toMs: number;
  limit: number;
}

export interface RawQuery extends TimeRange {
  /** Only these numeric fields; undefined = all. */
  fields?: string[];
}

export interface RawPoint {
  ts: number;
  seq: number;
  fields: Record<string, number>;
}

export interface AggPoint {
  ts: number;
  fields: Record<string, FieldAggregate>;
}

export interface EventPoint {
  ts: number;
  seq: number;
  deviceId: string;
  type: string;
  severity: string;
  message: string;
  attributes: Record<string, string>;
}

/** One presence record: a device came online or went offline (birth, will, clean close). */
export interface PresencePoint {
  ts: number;
  online: boolean;
  reason: string;
  /** firmware version the device announced with it ('' when none) */
  firmware: string;
}

/** Presence records in a range, with the newest one before it: the state the range starts in. */
export interface PresenceHistory {
  before: PresencePoint | null;
  points: PresencePoint[];
}

/** A device's data in [fromMs, toMs) (erasure, docs/care.md §5). */
export interface DeleteRange {
  deviceId: string;
  /** Inclusive, epoch ms (device time). */
  fromMs: number;
  /** Exclusive, epoch ms. */
  toMs: number;
}

/** Last reading per device, used to seed /v1/latest after a restart. */
export interface LatestPoint {
  deviceId: string;
  site: string;
  kind: string;
  ts: number;
  seq: number;
  fields: Record<string, number>;
  text: Record<string, string>;
}

/** Computed air-quality indices of one monitor or site (edge/src/air). */
export interface AirIndexQuery {
  scope: AirScope;
  /** deviceId for scope 'device', site for scope 'site'. */
  id: string;
  measure: AirMeasure;
  period: AirPeriod;
  /** Inclusive, epoch ms (period start). */
  fromMs: number;
  /** Exclusive. */
  toMs: number;
  limit: number;
}

export interface AirIndexPoint {
  /** Period start and end, epoch ms. */
  ts: number;
  endMs: number;
  site: string;
  value: number | null;
  values: Record<string, number>;
  labels: Record<string, string>;
}

/**
 * The telemetry store. `write` must be idempotent — the outbox replays a batch whose
 * acknowledgement was lost — and must only resolve once the batch is durable on the
 * store's side: the forwarder deletes outbox entries when it resolves. Failures throw
 * StoreError (retryable or not). Query results are ordered by time ascending.
 */
export interface TelemetryStore {
  readonly name: 'sqlite' | 'influxdb';
  init(): Promise<void>;
  write(records: readonly StoreRecord[]): Promise<void>;
  queryRaw(q: RawQuery): Promise<RawPoint[]>;
  queryAggregates(q: RawQuery): Promise<AggPoint[]>;
  queryEvents(q: TimeRange): Promise<EventPoint[]>;
  latest(): Promise<LatestPoint[]>;
  /** Presence records of one device in the range (time ascending) and the newest one before it. */
  queryPresence(q: TimeRange): Promise<PresenceHistory>;
  /** Air-quality indices (upserted by scope, id, measure, period and start), time ascending. */
  queryAirIndex(q: AirIndexQuery): Promise<AirIndexPoint[]>;
  /**
   * Deletes the device's readings, events and presence records in the range, and every
   * 1-minute aggregate whose window overlaps it (a window straddling an edge of the range
   * mixes erased data in, so it goes too). `latest()` no longer reports a reading from the
   * range afterwards. Idempotent: deleting again, or a range with no data, is no error.
   */
  deleteRange(q: DeleteRange): Promise<void>;
  close(): Promise<void>;
}

export type { AggregateRecord, EventRecord };

export function pickFields<T>(all: Record<string, T>, wanted: string[] | undefined): Record<string, T> {
  if (!wanted) return all;
  const out: Record<string, T> = {};
  for (const k of wanted) if (k in all) out[k] = all[k] as T;
  return out;
}
