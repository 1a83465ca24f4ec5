import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore, type StoreRecord } from '../src/index.js';

// SQLite-only behaviour beyond the shared store contract.
describe('SqliteStore', () => {
  let dir: string;
  let store: SqliteStore;
  const T0 = Date.UTC(2026, 0, 1);
  const reading = (deviceId: string, seq: number): StoreRecord => ({
    type: 'reading', deviceId, site: 's', kind: 'env-monitor', seq, tsMs: T0 + seq * 1000, fields: { pm25_ugm3: seq }, text: {},
  });
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'yulan-sqlite-store-'));
    store = new SqliteStore(join(dir, 'telemetry.db'));
    await store.init();
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a batch replayed after a crash keeps its first-arrival place (rowid) instead of moving to the end', async () => {
    // The forwarder writes a batch, then releases it from outbox.db: two files, so an edge
    // killed in between replays the batch on restart, after newer batches may be stored.
    const first = [1, 2, 3].flatMap((s) => [reading('a', s), reading('b', s)]);
    await store.write(first);
    await store.write([4, 5].flatMap((s) => [reading('a', s), reading('b', s)]));
    await store.write(first);
    const db = new Database(join(dir, 'telemetry.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT device_id AS id, seq FROM readings ORDER BY rowid').all() as { id: string; seq: number }[];
      expect(rows.filter((r) => r.id === 'a').map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(rows).toHaveLength(10);
    } finally {
      db.close();
    }
  });
});
