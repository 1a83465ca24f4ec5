import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { makePrivate, prepareSchema } from '@yulan/protos';
import { GatewayError, GatewayErrorCode } from './errors.js';

const SCHEMA_VERSION = 1;

export interface OutboxRow { id: number; deviceId: string; topic: string; payload: Buffer }
export interface TxRow {
  id: number; deviceId: string; connectorId: number; idTag: string; meterStartWh: number;
  startedMs: number; stoppedMs: number | null;
}

/** Seqs are handed out from blocks reserved on disk, so a restarted gateway never reuses
 * one and jumps forward by less than a block (the edge accepts jumps; architecture.md). */
const SEQ_BLOCK = 1000;

/**
 * The gateway's durable state (`<data dir>/gateway-ocpp/outbox.sqlite`): transaction
 * messages queued for the broker, the OCPP transactions it numbered, the answers it gave
 * to transaction messages (so a retried one gets the same answer and is stored once) and
 * the seq blocks. Journal WAL with synchronous FULL: a commit is on disk when it returns,
 * which is what lets the gateway send a CALLRESULT right after it.
 */
export class Outbox {
  readonly #db: Database.Database;
  readonly #seq = new Map<string, { next: number; end: number }>();
  readonly #stmts;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    try {
      const file = join(dir, 'outbox.sqlite');
      this.#db = new Database(file);
      makePrivate(file);
      // Version 1 is the layout below; a file from a newer release is refused, and one
      // from before versions were recorded is copied aside first (docs/deploy.md, "Upgrades").
      prepareSchema(this.#db, file, SCHEMA_VERSION, 'OCPP gateway outbox');
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('synchronous = FULL');
      this.#db.exec(`
        CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL);
        CREATE INDEX IF NOT EXISTS outbox_device ON outbox (device_id, id);
        CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, answer TEXT NOT NULL, at INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS tx (id INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL, connector_id INTEGER NOT NULL,
          id_tag TEXT NOT NULL, meter_start_wh REAL NOT NULL, started_ms INTEGER NOT NULL, stopped_ms INTEGER);
        CREATE TABLE IF NOT EXISTS seq (device_id TEXT PRIMARY KEY, reserved INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS id_tags (tag TEXT PRIMARY KEY, status TEXT NOT NULL, expiry_ms INTEGER);
        CREATE TABLE IF NOT EXISTS reservations (id INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL, command_id TEXT NOT NULL UNIQUE, at INTEGER NOT NULL);
      `);
      this.#db.pragma(`user_version = ${SCHEMA_VERSION}`);
    } catch (cause) {
      throw new GatewayError(GatewayErrorCode.Outbox, `cannot open the outbox in ${dir}: ${(cause as Error).message}`, { cause });
    }
    const db = this.#db;
    this.#stmts = {
      enqueue: db.prepare('INSERT INTO outbox (device_id, topic, payload) VALUES (?, ?, ?)'),
      pending: db.prepare('SELECT id, device_id AS deviceId, topic, payload FROM outbox WHERE device_id = ? ORDER BY id LIMIT ?'),
      ack: db.prepare('DELETE FROM outbox WHERE id = ?'),
      depth: db.prepare('SELECT count(*) AS n FROM outbox'),
      answer: db.prepare('SELECT answer FROM answers WHERE key = ?'),
      remember: db.prepare('INSERT OR IGNORE INTO answers (key, answer, at) VALUES (?, ?, ?)'),
      startTx: db.prepare('INSERT INTO tx (device_id, connector_id, id_tag, meter_start_wh, started_ms) VALUES (?, ?, ?, ?, ?)'),
      getTx: db.prepare('SELECT id, device_id AS deviceId, connector_id AS connectorId, id_tag AS idTag, meter_start_wh AS meterStartWh, started_ms AS startedMs, stopped_ms AS stoppedMs FROM tx WHERE id = ?'),
      openTx: db.prepare('SELECT id, device_id AS deviceId, connector_id AS connectorId, id_tag AS idTag, meter_start_wh AS meterStartWh, started_ms AS startedMs, stopped_ms AS stoppedMs FROM tx WHERE device_id = ? AND stopped_ms IS NULL ORDER BY id'),
      stopTx: db.prepare('UPDATE tx SET stopped_ms = ? WHERE id = ? AND stopped_ms IS NULL'),
      getSeq: db.prepare('SELECT reserved FROM seq WHERE device_id = ?'),
      reserve: db.prepare('INSERT OR IGNORE INTO reservations (device_id, command_id, at) VALUES (?, ?, ?)'),
      reservation: db.prepare('SELECT id FROM reservations WHERE command_id = ?'),
      setSeq: db.prepare('INSERT INTO seq (device_id, reserved) VALUES (?, ?) ON CONFLICT (device_id) DO UPDATE SET reserved = excluded.reserved'),
    };
  }

  /** Runs `fn` in one durable transaction (all its writes or none). */
  atomically<T>(fn: () => T): T {
    return this.#db.transaction(fn)();
  }

  enqueue(deviceId: string, topic: string, payload: Uint8Array): void {
    this.#stmts.enqueue.run(deviceId, topic, Buffer.from(payload));
  }

  pending(deviceId: string, limit = 100): OutboxRow[] {
    return this.#stmts.pending.all(deviceId, limit) as OutboxRow[];
  }

  ack(id: number): void {
    this.#stmts.ack.run(id);
  }

  depth(): number {
    return (this.#stmts.depth.get() as { n: number }).n;
  }

  /** The answer already given to a transaction message with this key, if any. */
  answer<T>(key: string): T | undefined {
    const row = this.#stmts.answer.get(key) as { answer: string } | undefined;
    return row ? (JSON.parse(row.answer) as T) : undefined;
  }

  remember(key: string, answer: unknown): void {
    this.#stmts.remember.run(key, JSON.stringify(answer), Date.now());
  }

  startTx(deviceId: string, connectorId: number, idTag: string, meterStartWh: number, startedMs: number): number {
    return Number(this.#stmts.startTx.run(deviceId, connectorId, idTag, meterStartWh, startedMs).lastInsertRowid);
  }

  getTx(id: number): TxRow | undefined {
    return this.#stmts.getTx.get(id) as TxRow | undefined;
  }

  openTxs(deviceId: string): TxRow[] {
    return this.#stmts.openTx.all(deviceId) as TxRow[];
  }

  stopTx(id: number, stoppedMs: number): void {
    this.#stmts.stopTx.run(stoppedMs, id);
  }

  /** Next message seq of a device (see SEQ_BLOCK). */
  nextSeq(deviceId: string): number {
    let s = this.#seq.get(deviceId);
    if (!s || s.next >= s.end) {
      const reserved = (this.#stmts.getSeq.get(deviceId) as { reserved: number } | undefined)?.reserved ?? 0;
      s = { next: reserved + 1, end: reserved + 1 + SEQ_BLOCK };
      this.#stmts.setSeq.run(deviceId, reserved + SEQ_BLOCK);
      this.#seq.set(deviceId, s);
    }
    return s.next++;
  }

  /** The OCPP reservationId of a charger.reserve_now command. AUTOINCREMENT never hands an
   * id out twice, across the gateway's chargers and restarts, and keying it by the command
   * means a command the cloud sends again (its answer lost) asks for the same reservation. */
  reservationId(deviceId: string, commandId: string): number {
    this.#stmts.reserve.run(deviceId, commandId, Date.now());
    return (this.#stmts.reservation.get(commandId) as { id: number }).id;
  }

  /** The database, for the id-tag list kept beside the outbox (id-tags.ts). */
  get db(): Database.Database {
    return this.#db;
  }

  close(): void {
    this.#db.close();
  }
}
