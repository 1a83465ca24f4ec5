import type Database from 'better-sqlite3';
import { DataError } from '@yulan/protos';
import type { ReadingRecord, StoreRecord } from '../domain/records.js';
import { WINDOW_MS } from '../domain/aggregator.js';
import { StoreError } from '../errors.js';
import { openEdgeDb } from '../sqlite-file.js';
import {
  pickFields, type AggPoint, type AirIndexPoint, type AirIndexQuery, type DeleteRange, type EventPoint, type LatestPoint, type PresenceHistory, type PresencePoint, type RawPoint, type RawQuery,
  type TelemetryStore, type TimeRange,
} from './store.js';

/** telemetry.db schema versions (user_version); append, never edit a released entry. */
export const MIGRATIONS: readonly string[] = [`
        CREATE TABLE IF NOT EXISTS readings (device_id TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL,
          site TEXT NOT NULL, kind TEXT NOT NULL, fields TEXT NOT NULL, text TEXT NOT NULL, PRIMARY KEY (device_id, seq));
        CREATE INDEX IF NOT EXISTS readings_ts ON readings(device_id, ts);
        CREATE TABLE IF NOT EXISTS aggregates (device_id TEXT NOT NULL, window_start INTEGER NOT NULL,
          site TEXT NOT NULL, kind TEXT NOT NULL, fields TEXT NOT NULL, PRIMARY KEY (device_id, window_start));
        CREATE TABLE IF NOT EXISTS events (device_id TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL,
          site TEXT NOT NULL, kind TEXT NOT NULL, type TEXT NOT NULL, severity TEXT NOT NULL, message TEXT NOT NULL,
          attributes TEXT NOT NULL, PRIMARY KEY (device_id, seq));
        CREATE INDEX IF NOT EXISTS events_ts ON events(device_id, ts);
        CREATE TABLE IF NOT EXISTS presence (device_id TEXT NOT NULL, ts INTEGER NOT NULL, site TEXT NOT NULL,
          kind TEXT NOT NULL, online INTEGER NOT NULL, reason TEXT NOT NULL, firmware TEXT NOT NULL, PRIMARY KEY (device_id, ts));
        CREATE TABLE IF NOT EXISTS latest (device_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, ts INTEGER NOT NULL,
          site TEXT NOT NULL, kind TEXT NOT NULL, fields TEXT NOT NULL, text TEXT NOT NULL);`,
  // 2: hourly/daily AQI and noise levels per monitor and per site (edge/src/air).
  `CREATE TABLE IF NOT EXISTS air_index (scope TEXT NOT NULL, id TEXT NOT NULL, measure TEXT NOT NULL,
     period TEXT NOT NULL, ts INTEGER NOT NULL, end_ts INTEGER NOT NULL, site TEXT NOT NULL, value REAL,
     "values" TEXT NOT NULL, labels TEXT NOT NULL, PRIMARY KEY (scope, id, measure, period, ts));`,
];

/** The tables retention prunes, and their time column. */
export type PruneTable = 'readings' | 'aggregates' | 'events' | 'presence';
const PRUNE_TIME: Record<PruneTable, string> = { readings: 'ts', aggregates: 'window_start', events: 'ts', presence: 'ts' };

/**
 * Embedded store, one SQLite file. Idempotent by primary keys: readings (device, seq),
 * aggregates (device, window start), events (device, seq), presence (device, ts) —
 * a replayed batch overwrites identical rows. Fields are kept as JSON text: the schema
 * differs per device kind and queries always fetch whole readings of one device.
 */
export class SqliteStore implements TelemetryStore {
  readonly name = 'sqlite' as const;
  private db: Database.Database | undefined;
  private writeTx!: (records: readonly StoreRecord[]) => void;
  private stmts!: Record<'reading' | 'aggregate' | 'event' | 'presence' | 'latest' | 'qRaw' | 'qAgg' | 'qEvents' | 'qLatest' | 'qPresence' | 'qPresenceBefore' | 'airIndex' | 'qAirIndex', Database.Statement>;
  private deleteTx!: (q: DeleteRange) => void;
  private pruneStmts: Partial<Record<PruneTable, Record<'first' | 'next' | 'del', Database.Statement>>> = {};

  constructor(private readonly path: string) {}

  async init(): Promise<void> {
    try {
      const db = openEdgeDb(this.path, 'telemetry', MIGRATIONS);
      this.stmts = {
        // Upserts that update in place, not INSERT OR REPLACE: REPLACE deletes the old row and
        // inserts a new one with a new rowid, so a batch replayed after a crash (stored, but the
        // edge died before releasing it from the outbox) moved to the end of the table and rowid
        // order stopped meaning "first arrival" — which the chaos test reads as order inversions.
        reading: db.prepare(`INSERT INTO readings VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(device_id, seq) DO UPDATE SET
          ts = excluded.ts, site = excluded.site, kind = excluded.kind, fields = excluded.fields, text = excluded.text`),
        aggregate: db.prepare(`INSERT INTO aggregates VALUES (?, ?, ?, ?, ?) ON CONFLICT(device_id, window_start) DO UPDATE SET
          site = excluded.site, kind = excluded.kind, fields = excluded.fields`),
        event: db.prepare(`INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(device_id, seq) DO UPDATE SET
          ts = excluded.ts, site = excluded.site, kind = excluded.kind, type = excluded.type, severity = excluded.severity,
          message = excluded.message, attributes = excluded.attributes`),
        presence: db.prepare(`INSERT INTO presence VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(device_id, ts) DO UPDATE SET
          site = excluded.site, kind = excluded.kind, online = excluded.online, reason = excluded.reason, firmware = excluded.firmware`),
        // Only a newer reading (device time, then seq) replaces the latest one.
        latest: db.prepare(`INSERT INTO latest VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(device_id) DO UPDATE SET
          seq = excluded.seq, ts = excluded.ts, site = excluded.site, kind = excluded.kind, fields = excluded.fields,
          text = excluded.text WHERE excluded.ts > latest.ts OR (excluded.ts = latest.ts AND excluded.seq >= latest.seq)`),
        qRaw: db.prepare('SELECT ts, seq, fields FROM readings WHERE device_id = ? AND ts >= ? AND ts < ? ORDER BY ts, seq LIMIT ?'),
        qAgg: db.prepare('SELECT window_start AS ts, fields FROM aggregates WHERE device_id = ? AND window_start >= ? AND window_start < ? ORDER BY window_start LIMIT ?'),
        qEvents: db.prepare('SELECT ts, seq, device_id, type, severity, message, attributes FROM events WHERE device_id = ? AND ts >= ? AND ts < ? ORDER BY ts, seq LIMIT ?'),
        qLatest: db.prepare('SELECT device_id, site, kind, ts, seq, fields, text FROM latest'),
        // Both answered from the (device_id, ts) primary key.
        qPresence: db.prepare('SELECT ts, online, reason, firmware FROM presence WHERE device_id = ? AND ts >= ? AND ts < ? ORDER BY ts LIMIT ?'),
        qPresenceBefore: db.prepare('SELECT ts, online, reason, firmware FROM presence WHERE device_id = ? AND ts < ? ORDER BY ts DESC LIMIT 1'),
        airIndex: db.prepare('INSERT OR REPLACE INTO air_index VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'),
        qAirIndex: db.prepare(`SELECT ts, end_ts, site, value, "values", labels FROM air_index WHERE scope = ? AND id = ?
          AND measure = ? AND period = ? AND ts >= ? AND ts < ? ORDER BY ts LIMIT ?`),
      };
      this.writeTx = db.transaction((records: readonly StoreRecord[]) => {
        const s = this.stmts;
        // One `latest` upsert per device per batch, not per reading: it is a hot-path cost.
        const newest = new Map<string, ReadingRecord>();
        for (const r of records) {
          switch (r.type) {
            case 'reading': {
              s.reading.run(r.deviceId, r.seq, r.tsMs, r.site, r.kind, JSON.stringify(r.fields), JSON.stringify(r.text));
              const cur = newest.get(r.deviceId);
              if (!cur || r.tsMs > cur.tsMs || (r.tsMs === cur.tsMs && r.seq > cur.seq)) newest.set(r.deviceId, r);
              break;
            }
            case 'aggregate':
              s.aggregate.run(r.deviceId, r.windowStartMs, r.site, r.kind, JSON.stringify(r.fields));
              break;
            case 'event':
              s.event.run(r.deviceId, r.seq, r.tsMs, r.site, r.kind, r.eventType, r.severity, r.message, JSON.stringify(r.attributes));
              break;
            case 'presence':
              s.presence.run(r.deviceId, r.tsMs, r.site, r.kind, r.online ? 1 : 0, r.reason, r.firmwareVersion);
              break;
            case 'air-index':
              s.airIndex.run(r.scope, r.scope === 'site' ? r.site : r.deviceId, r.measure, r.period, r.tsMs, r.endMs, r.site,
                r.value, JSON.stringify(r.values), JSON.stringify(r.labels));
              break;
          }
        }
        for (const r of newest.values()) {
          s.latest.run(r.deviceId, r.seq, r.tsMs, r.site, r.kind, JSON.stringify(r.fields), JSON.stringify(r.text));
        }
      });
      const del = {
        readings: db.prepare('DELETE FROM readings WHERE device_id = ? AND ts >= ? AND ts < ?'),
        events: db.prepare('DELETE FROM events WHERE device_id = ? AND ts >= ? AND ts < ?'),
        presence: db.prepare('DELETE FROM presence WHERE device_id = ? AND ts >= ? AND ts < ?'),
        aggregates: db.prepare('DELETE FROM aggregates WHERE device_id = ? AND window_start > ? AND window_start < ?'),
        latest: db.prepare('DELETE FROM latest WHERE device_id = ? AND ts >= ? AND ts < ?'),
        // The newest reading that is left becomes the latest again (seeds /v1/latest at start).
        relatest: db.prepare(`INSERT OR REPLACE INTO latest SELECT device_id, seq, ts, site, kind, fields, text FROM readings
          WHERE device_id = ? ORDER BY ts DESC, seq DESC LIMIT 1`),
      };
      this.deleteTx = db.transaction((q: DeleteRange) => {
        del.readings.run(q.deviceId, q.fromMs, q.toMs);
        del.events.run(q.deviceId, q.fromMs, q.toMs);
        del.presence.run(q.deviceId, q.fromMs, q.toMs);
        del.aggregates.run(q.deviceId, q.fromMs - WINDOW_MS, q.toMs);
        if (del.latest.run(q.deviceId, q.fromMs, q.toMs).changes > 0) del.relatest.run(q.deviceId);
      });
      this.db = db;
    } catch (err) {
      if (err instanceof DataError) throw err;
      throw new StoreError(`cannot open sqlite store ${this.path}`, { retryable: false, cause: err });
    }
  }

  private get open(): Database.Database {
    if (!this.db?.open) throw new StoreError('sqlite store is not open', { retryable: true });
    return this.db;
  }

  async write(records: readonly StoreRecord[]): Promise<void> {
    this.open;
    try {
      this.writeTx(records);
    } catch (err) {
      // SQLITE_BUSY/FULL/IOERR may go away; a constraint error would not, but our keys
      // are upserts, so treat everything as retryable.
      throw new StoreError('sqlite store write failed', { retryable: true, cause: err });
    }
  }

  async queryRaw(q: RawQuery): Promise<RawPoint[]> {
    this.open;
    const rows = this.stmts.qRaw.all(q.deviceId, q.fromMs, q.toMs, q.limit) as { ts: number; seq: number; fields: string }[];
    return rows.map((r) => ({ ts: r.ts, seq: r.seq, fields: pickFields(JSON.parse(r.fields) as Record<string, number>, q.fields) }));
  }

  async queryAggregates(q: RawQuery): Promise<AggPoint[]> {
    this.open;
    const rows = this.stmts.qAgg.all(q.deviceId, q.fromMs, q.toMs, q.limit) as { ts: number; fields: string }[];
    return rows.map((r) => ({ ts: r.ts, fields: pickFields(JSON.parse(r.fields) as AggPoint['fields'], q.fields) }));
  }

  async queryEvents(q: TimeRange): Promise<EventPoint[]> {
    this.open;
    const rows = this.stmts.qEvents.all(q.deviceId, q.fromMs, q.toMs, q.limit) as
      { ts: number; seq: number; device_id: string; type: string; severity: string; message: string; attributes: string }[];
    return rows.map((r) => ({
      ts: r.ts, seq: r.seq, deviceId: r.device_id, type: r.type, severity: r.severity, message: r.message,
      attributes: JSON.parse(r.attributes) as Record<string, string>,
    }));
  }

  async queryPresence(q: TimeRange): Promise<PresenceHistory> {
    this.open;
    type Row = { ts: number; online: number; reason: string; firmware: string };
    const point = (r: Row): PresencePoint => ({ ts: r.ts, online: r.online === 1, reason: r.reason, firmware: r.firmware });
    const before = this.stmts.qPresenceBefore.get(q.deviceId, q.fromMs) as Row | undefined;
    const rows = this.stmts.qPresence.all(q.deviceId, q.fromMs, q.toMs, q.limit) as Row[];
    return { before: before ? point(before) : null, points: rows.map(point) };
  }

  async latest(): Promise<LatestPoint[]> {
    this.open;
    const rows = this.stmts.qLatest.all() as
      { device_id: string; site: string; kind: string; ts: number; seq: number; fields: string; text: string }[];
    return rows.map((r) => ({
      deviceId: r.device_id, site: r.site, kind: r.kind, ts: r.ts, seq: r.seq,
      fields: JSON.parse(r.fields) as Record<string, number>, text: JSON.parse(r.text) as Record<string, string>,
    }));
  }

  async queryAirIndex(q: AirIndexQuery): Promise<AirIndexPoint[]> {
    this.open;
    const rows = this.stmts.qAirIndex.all(q.scope, q.id, q.measure, q.period, q.fromMs, q.toMs, q.limit) as
      { ts: number; end_ts: number; site: string; value: number | null; values: string; labels: string }[];
    return rows.map((r) => ({
      ts: r.ts, endMs: r.end_ts, site: r.site, value: r.value,
      values: JSON.parse(r.values) as Record<string, number>, labels: JSON.parse(r.labels) as Record<string, string>,
    }));
  }

  async deleteRange(q: DeleteRange): Promise<void> {
    this.open;
    try {
      this.deleteTx(q);
    } catch (err) {
      throw new StoreError('sqlite store delete failed', { retryable: true, cause: err });
    }
  }

  /**
   * Retention: deletes at most `limit` rows of `table` older than `beforeMs`, one device at a
   * time, walking devices in id order from `cursor` — each step is an index range on
   * (device_id, ts), so a batch costs the same on a 100-million-row file as on a small one
   * and needs no full scan. Returns the rows deleted and where to go on (undefined: the
   * walk reached the last device).
   */
  pruneBatch(table: PruneTable, beforeMs: number, limit: number, cursor: string | undefined): { deleted: number; cursor: string | undefined } {
    const db = this.open;
    const st = (this.pruneStmts[table] ??= {
      first: db.prepare(`SELECT device_id AS d FROM ${table} ORDER BY device_id LIMIT 1`).pluck(),
      next: db.prepare(`SELECT device_id AS d FROM ${table} WHERE device_id > ? ORDER BY device_id LIMIT 1`).pluck(),
      del: db.prepare(`DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} WHERE device_id = ? AND ${PRUNE_TIME[table]} < ? LIMIT ?)`),
    });
    const device = (cursor === undefined ? st.first.get() : cursor) as string | undefined;
    if (device === undefined) return { deleted: 0, cursor: undefined };
    try {
      const deleted = st.del.run(device, beforeMs, limit).changes;
      // A full batch may have left more of this device; otherwise move on.
      return { deleted, cursor: deleted >= limit ? device : (st.next.get(device) as string | undefined) };
    } catch (err) {
      throw new StoreError('sqlite store prune failed', { retryable: true, cause: err });
    }
  }

  async close(): Promise<void> {
    if (this.db?.open) this.db.close();
  }
}
