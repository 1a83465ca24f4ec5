import { chmodSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataErrorCode, findInUse } from '@yulan/protos';
import { loadCloudConfig } from '../src/config.js';
import { openMigratedDb } from '../src/repositories/sqlite.js';
import { startCloud } from '../src/start.js';
import { cloudEnv, startBroker, startEdgeStub, tempDir, type EdgeStub, type TestBroker } from './helpers.js';
import { logLines } from '@yulan/testkit';

const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';

/** A pino logger whose lines the test can read. */
function capturingLogger(): { logger: pino.Logger; lines: { level: number; msg: string; path?: string }[] } {
  const { stream, lines } = logLines<{ level: number; msg: string; path?: string }>();
  return { logger: pino({ level: 'info' }, stream), lines };
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? [p, ...walk(p)] : [p];
  });
}

describe('cloud data files: modes, in-use marker, schema versions', () => {
  let broker: TestBroker;
  let edge: EdgeStub;
  const tmp = tempDir('yulan-cloud-safety-');
  const start = (logger: pino.Logger) =>
    startCloud(loadCloudConfig(cloudEnv(tmp.dir, broker, edge, 'cloud-pw', { YULAN_ADMIN_TOKEN: ADMIN })), logger, { dashboardDir: null });

  beforeAll(async () => {
    broker = await startBroker({ cloud: 'cloud-pw' });
    edge = await startEdgeStub();
  });
  afterAll(async () => {
    await edge?.close();
    await broker?.close();
    tmp.cleanup();
  });

  it('creates every folder 0700 and every file 0600 (people.sqlite holds password hashes), marks the folder in use while running', async () => {
    const cloud = await start(pino({ level: 'silent' }));
    try {
      const paths = walk(join(tmp.dir, 'cloud'));
      expect(paths.some((p) => p.endsWith('people.sqlite'))).toBe(true);
      expect(paths.some((p) => p.endsWith('people.sqlite-wal'))).toBe(true);
      for (const p of paths) expect({ p, mode: (statSync(p).mode & 0o777).toString(8) }).toEqual({ p, mode: statSync(p).isDirectory() ? '700' : '600' });
      expect(findInUse(tmp.dir).map((u) => [u.service, u.pid])).toEqual([['cloud', process.pid]]);
    } finally {
      await cloud.close();
    }
    expect(findInUse(tmp.dir)).toEqual([]);
  });

  it('warns at start, naming the path and the fix, when a data file is readable by others; still starts', async () => {
    const people = join(tmp.dir, 'cloud', 'people.sqlite');
    chmodSync(people, 0o644);
    const { logger, lines } = capturingLogger();
    const cloud = await start(logger);
    await cloud.close();
    const warning = lines.find((l) => l.path === people);
    expect(warning?.level).toBe(40);
    expect(warning?.msg).toContain(`data file ${people} has mode 0644`);
    expect(warning?.msg).toContain(`chmod 600 ${people}`);
    chmodSync(people, 0o600);
  });

  it('refuses to start on a database written by a newer release, with a clear message, and changes nothing', async () => {
    const people = join(tmp.dir, 'cloud', 'people.sqlite');
    const db = new Database(people);
    const current = db.pragma('user_version', { simple: true }) as number;
    db.pragma(`user_version = ${current + 5}`);
    db.close();
    const err = await start(pino({ level: 'silent' })).then(() => undefined, (e: unknown) => e as { code?: string; message: string });
    expect(err?.code).toBe(DataErrorCode.SchemaTooNew);
    expect(err?.message).toMatch(new RegExp(`people database .*people\\.sqlite has schema version ${current + 5}, but this Yulan release knows versions up to ${current}`));
    expect(findInUse(tmp.dir)).toEqual([]);
    const after = new Database(people);
    expect(after.pragma('user_version', { simple: true })).toBe(current + 5);
    after.pragma(`user_version = ${current}`);
    after.close();
    // and the directory starts again once the schema is one it knows
    await (await start(pino({ level: 'silent' }))).close();
  });

  it('copies an older database before migrating it; the copy holds the old schema and the data', () => {
    const file = join(tmp.dir, 'upgrade', 'thing.sqlite');
    const v1 = ['CREATE TABLE t (x INTEGER)'];
    const old = openMigratedDb(file, v1, 'thing');
    old.prepare('INSERT INTO t VALUES (42)').run();
    old.close();
    const db = openMigratedDb(file, [...v1, 'ALTER TABLE t ADD COLUMN y TEXT'], 'thing');
    expect(db.pragma('user_version', { simple: true })).toBe(2);
    db.close();
    const copies = readdirSync(join(tmp.dir, 'upgrade')).filter((n) => /^thing\.sqlite\.v1\.\d{8}T\d{6}Z\.bak$/.test(n));
    expect(copies).toHaveLength(1);
    const copy = join(tmp.dir, 'upgrade', copies[0]!);
    expect(statSync(copy).mode & 0o777).toBe(0o600);
    const b = new Database(copy, { readonly: true });
    expect(b.pragma('user_version', { simple: true })).toBe(1);
    expect(b.prepare('SELECT * FROM t').all()).toEqual([{ x: 42 }]);
    b.close();
    // an up-to-date file is opened without another copy
    openMigratedDb(file, [...v1, 'ALTER TABLE t ADD COLUMN y TEXT'], 'thing').close();
    expect(readdirSync(join(tmp.dir, 'upgrade')).filter((n) => n.endsWith('.bak'))).toHaveLength(1);
    expect(existsSync(file)).toBe(true);
  });
});
