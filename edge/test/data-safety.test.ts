import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataErrorCode } from '@yulan/protos';
import { Outbox } from '../src/outbox.js';
import { MIGRATIONS, SqliteStore } from '../src/store/sqlite-store.js';

// Releases before schema versions left the edge's files at user_version 0 with the tables in
// place; these tests build such a file with exactly the SQL that release ran.
describe('edge data files: schema versions and modes', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'yulan-edge-safety-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("adopts a released (unversioned) telemetry.db: copy first, then version 1, data intact", async () => {
    const file = join(dir, 'telemetry.db');
    const old = new Database(file);
    old.exec(MIGRATIONS[0]!);
    old.prepare("INSERT INTO readings VALUES ('dev-1', 7, 1000, 's', 'env-monitor', '{\"pm25_ugm3\":3}', '{}')").run();
    old.close();
    const store = new SqliteStore(file);
    await store.init();
    expect(await store.queryRaw({ deviceId: 'dev-1', fromMs: 0, toMs: 2000, limit: 10 })).toEqual([{ ts: 1000, seq: 7, fields: { pm25_ugm3: 3 } }]);
    await store.close();
    const db = new Database(file, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    db.close();
    const copies = readdirSync(dir).filter((n) => /^telemetry\.db\.v0\..*\.bak$/.test(n));
    expect(copies).toHaveLength(1);
    const copy = new Database(join(dir, copies[0]!), { readonly: true });
    expect(copy.prepare('SELECT device_id, seq FROM readings').all()).toEqual([{ device_id: 'dev-1', seq: 7 }]);
    copy.close();
  });

  it('a fresh file gets no copy, mode 0600 and the current version', async () => {
    const store = new SqliteStore(join(dir, 'telemetry.db'));
    await store.init();
    await store.close();
    expect(readdirSync(dir).filter((n) => n.endsWith('.bak'))).toEqual([]);
    expect(statSync(join(dir, 'telemetry.db')).mode & 0o777).toBe(0o600);
  });

  it('refuses telemetry.db and outbox.db written by a newer release, naming the file', async () => {
    for (const name of ['telemetry.db', 'outbox.db']) {
      const db = new Database(join(dir, name));
      db.exec('CREATE TABLE later (x)');
      db.pragma('user_version = 99');
      db.close();
    }
    const store = new SqliteStore(join(dir, 'telemetry.db'));
    await expect(store.init()).rejects.toMatchObject({
      code: DataErrorCode.SchemaTooNew,
      message: expect.stringContaining(`telemetry database ${join(dir, 'telemetry.db')} has schema version 99`) as unknown,
    });
    expect(() => new Outbox(join(dir, 'outbox.db'), 1000)).toThrow(/outbox database .* has schema version 99, but this Yulan release knows versions up to 1/);
    expect(readdirSync(dir).filter((n) => n.endsWith('.bak'))).toEqual([]);
  });
});
