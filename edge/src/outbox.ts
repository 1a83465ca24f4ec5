import type Database from 'better-sqlite3';
import { DataError } from '@yulan/protos';
import type { AggSnapshot } from './domain/aggregator.js';
import type { DedupeSnapshot } from './domain/dedupe.js';
import { planEviction } from './domain/outbox-policy.js';
import { isDroppable, type StoreRecord } from './domain/records.js';
import { EdgeError, EdgeErrorCode } from './errors.js';
import { openEdgeDb } from './sqlite-file.js';

/** outbox.db schema versions (user_version); append, never edit a released entry. */
const OUTBOX_MIGRATIONS: readonly string[] = [`
        CREATE TABLE IF NOT EXISTS outbox (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          droppable INTEGER NOT NULL,
          body TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS outbox_droppable ON outbox(id) WHERE droppable = 1;
        CREATE TABLE IF NOT EXISTS device_state (
          device_id TEXT PRIMARY KEY,
          dedupe TEXT,
          agg TEXT
        );`,
];

export interface DeviceStateRow {
  deviceId: string;
  dedupe?: DedupeSnapshot;
  agg?: AggSnapshot;
}

export interface OutboxBatch {
  lastId: number;
  records: StoreRecord[];
}

/**
 * The durable store-and-forward queue, one SQLite file. Ingest appends records and the
 * per-device dedupe/aggregation state in ONE transaction, so after any crash the queue and
 * the state agree: a message is either fully in (and will be recognised as a duplicate on
 * redelivery) or not at all (and will be redelivered, since it was not acknowledged).
 * WAL + synchronous=NORMAL: a commit survives a process crash without an fsync per batch;
 * only an OS crash/power loss may lose the last commits.
 */
export class Outbox {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly upsertState: Database.Statement;
  private readonly evictStmt: Database.Statement;
  private readonly peekStmt: Database.Statement;
  private readonly releaseDroppable: Database.Statement;
  private readonly releaseRest: Database.Statement;
  private readonly commitTx: (records: StoreRecord[], states: DeviceStateRow[]) => number;
  private _depth: number;
  private _droppableDepth: number;

  constructor(path: string, private readonly maxRows: number) {
    try {
      this.db = openEdgeDb(path, 'outbox', OUTBOX_MIGRATIONS);
    } catch (err) {
      if (err instanceof DataError) throw err;
      throw new EdgeError(EdgeErrorCode.Outbox, `cannot open outbox ${path}`, { cause: err });
    }
    this.insert = this.db.prepare('INSERT INTO outbox (droppable, body) VALUES (?, ?)');
    this.upsertState = this.db.prepare(`
      INSERT INTO device_state (device_id, dedupe, agg) VALUES (?, ?, ?)
      ON CONFLICT(device_id) DO UPDATE SET
        dedupe = coalesce(excluded.dedupe, dedupe), agg = coalesce(excluded.agg, agg)`);
    this.evictStmt = this.db.prepare(
      'DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE droppable = 1 ORDER BY id LIMIT ?)');
    this.peekStmt = this.db.prepare('SELECT id, body FROM outbox ORDER BY id LIMIT ?').raw(true);
    this.releaseDroppable = this.db.prepare('DELETE FROM outbox WHERE droppable = 1 AND id <= ?');
    this.releaseRest = this.db.prepare('DELETE FROM outbox WHERE id <= ?');
    this._depth = (this.db.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number }).n;
    this._droppableDepth = (this.db.prepare('SELECT count(*) AS n FROM outbox WHERE droppable = 1').get() as { n: number }).n;

    this.commitTx = this.db.transaction((records: StoreRecord[], states: DeviceStateRow[]): number => {
      let droppable = 0;
      for (const r of records) if (isDroppable(r)) droppable++;
      const plan = planEviction({
        depth: this._depth, droppableDepth: this._droppableDepth, maxRows: this.maxRows,
        incomingDroppable: droppable, incomingKept: records.length - droppable,
      });
      let evicted = 0;
      if (plan.evictOld > 0) evicted = this.evictStmt.run(plan.evictOld).changes;
      let skip = plan.dropIncoming;
      let inserted = 0;
      let insertedDroppable = 0;
      for (const r of records) {
        const d = isDroppable(r);
        if (d && skip > 0) {
          skip--;
          continue;
        }
        this.insert.run(d ? 1 : 0, JSON.stringify(r));
        inserted++;
        if (d) insertedDroppable++;
      }
      for (const s of states) {
        this.upsertState.run(s.deviceId, s.dedupe ? JSON.stringify(s.dedupe) : null, s.agg ? JSON.stringify(s.agg) : null);
      }
      // Counters change only once the transaction body succeeded; a throw rolls both back.
      this._depth += inserted - evicted;
      this._droppableDepth += insertedDroppable - evicted;
      return evicted + plan.dropIncoming;
    });
  }

  /** Appends records and device state atomically. Returns how many droppable records
   * were sacrificed to the bound. Throws EdgeError(E_EDGE_OUTBOX) and changes nothing on
   * failure. */
  commit(records: StoreRecord[], states: DeviceStateRow[] = []): number {
    try {
      return this.commitTx(records, states);
    } catch (err) {
      throw new EdgeError(EdgeErrorCode.Outbox, 'outbox commit failed', { cause: err });
    }
  }

  /** Oldest entries, in order, without removing them. */
  peek(limit: number): OutboxBatch | undefined {
    const rows = this.peekStmt.all(limit) as [number, string][];
    if (rows.length === 0) return undefined;
    const records = rows.map((r) => JSON.parse(r[1]) as StoreRecord);
    return { lastId: (rows[rows.length - 1] as [number, string])[0], records };
  }

  /** Deletes everything up to and including `lastId` — called only after the store
   * acknowledged the batch. */
  release(lastId: number): void {
    const tx = this.db.transaction(() => {
      const d = this.releaseDroppable.run(lastId).changes;
      const r = this.releaseRest.run(lastId).changes;
      this._droppableDepth -= d;
      this._depth -= d + r;
    });
    tx();
  }

  /** Deletes queued records of the device in [fromMs, toMs) and queued aggregates of
   * windows overlapping it (erasure), before they reach the store. Returns how many. */
  dropRange(deviceId: string, fromMs: number, toMs: number, windowMs: number): number {
    const tx = this.db.transaction(() => {
      const n = this.db.prepare(`DELETE FROM outbox WHERE json_extract(body, '$.deviceId') = @deviceId AND (
          (json_extract(body, '$.type') = 'aggregate'
            AND json_extract(body, '$.windowStartMs') > @fromMs - @windowMs AND json_extract(body, '$.windowStartMs') < @toMs)
          OR (json_extract(body, '$.type') <> 'aggregate'
            AND json_extract(body, '$.tsMs') >= @fromMs AND json_extract(body, '$.tsMs') < @toMs))`)
        .run({ deviceId, fromMs, toMs, windowMs }).changes;
      if (n > 0) {
        this._depth = (this.db.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number }).n;
        this._droppableDepth = (this.db.prepare('SELECT count(*) AS n FROM outbox WHERE droppable = 1').get() as { n: number }).n;
      }
      return n;
    });
    try {
      return tx();
    } catch (err) {
      throw new EdgeError(EdgeErrorCode.Outbox, 'outbox delete failed', { cause: err });
    }
  }

  loadStates(): DeviceStateRow[] {
    const rows = this.db.prepare('SELECT device_id, dedupe, agg FROM device_state').all() as
      { device_id: string; dedupe: string | null; agg: string | null }[];
    return rows.map((r) => ({
      deviceId: r.device_id,
      ...(r.dedupe ? { dedupe: JSON.parse(r.dedupe) as DedupeSnapshot } : {}),
      ...(r.agg ? { agg: JSON.parse(r.agg) as AggSnapshot } : {}),
    }));
  }

  get depth(): number {
    return this._depth;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
