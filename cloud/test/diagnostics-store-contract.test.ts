import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteDiagnosticsStore, type DiagnosticsStore, type NewDiagnostics } from '../src/ocpp/diagnostics-store.js';
import { PgDiagnosticsStore } from '../src/ocpp/pg-diagnostics-store.js';
import type { PostgresDatabase } from '../src/db/postgres.js';
import { usePostgres } from './pg-support.js';
import { secondCloud } from './pg-two-clouds.js';
import { tempDir } from './helpers.js';
import { logLines } from '@yulan/testkit';

const pgs = usePostgres();
const tmp = tempDir('diagnostics-contract-');
const extra: PostgresDatabase[] = [];
afterAll(async () => {
  await Promise.all(extra.map((d) => d.close()));
  tmp.cleanup();
});
let n = 0;

/** each factory: a store and a second one on the same data (another cloud) */
type Factory = () => Promise<[DiagnosticsStore, () => Promise<DiagnosticsStore>]>;
const impls: [string, Factory][] = [['sqlite', async () => {
  const file = path.join(tmp.dir, `d-${n++}`, 'ocpp-diagnostics.sqlite');
  return [new SqliteDiagnosticsStore(file), async () => new SqliteDiagnosticsStore(file)];
}]];
if (!pgs.skip) impls.push(['postgres', async () => {
  const db = await pgs.fresh();
  return [await PgDiagnosticsStore.open(db), async () => {
    const other = secondCloud(db);
    extra.push(other);
    return PgDiagnosticsStore.open(other);
  }];
}]);

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 5, 1);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const meta = (deviceId: string, commandId: string, body: Buffer, fileName = 'logs.tar.gz'): NewDiagnostics => ({
  deviceId, commandId, fileName, sha256: sha(body), contentType: 'application/gzip', uploadedAt: new Date(T0 - 1000).toISOString(),
});

describe.each(impls)('diagnostics store contract (%s)', (_name, open) => {
  it('stores a file with its metadata and gives back the same bytes; other devices see nothing', async () => {
    const [s] = await open();
    const body = Buffer.from([0, 1, 2, 255, 254, 10, 13]);
    const { record, created } = await s.put(meta('CP-1', 'cmd-1', body), body, T0);
    expect(created).toBe(true);
    expect(record).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/), deviceId: 'CP-1', fileName: 'logs.tar.gz', bytes: body.length, sha256: sha(body),
      contentType: 'application/gzip', commandId: 'cmd-1', uploadedAt: new Date(T0 - 1000).toISOString(), receivedAt: new Date(T0).toISOString(),
    });
    expect(await s.get('CP-1', record.id)).toEqual(record);
    expect((await s.body('CP-1', record.id))!.equals(body)).toBe(true);
    expect(await s.list('CP-1', 10)).toEqual([record]);
    // a file id is only found under its own device
    expect(await s.get('CP-2', record.id)).toBeUndefined();
    expect(await s.body('CP-2', record.id)).toBeUndefined();
    expect(await s.list('CP-2', 10)).toEqual([]);
    expect(await s.get('CP-1', '00000000-0000-0000-0000-000000000000')).toBeUndefined();
    await s.close();
  });

  it('the same file for the same command is stored once; another command or other bytes are new files', async () => {
    const [s] = await open();
    const body = Buffer.from('boot log\n');
    const first = await s.put(meta('CP-1', 'cmd-1', body), body, T0);
    const again = await s.put(meta('CP-1', 'cmd-1', body, 'renamed.log'), body, T0 + 5000);
    expect(again).toEqual({ record: first.record, created: false });
    const otherCmd = await s.put(meta('CP-1', 'cmd-2', body), body, T0 + 1);
    const otherBody = Buffer.from('boot log 2\n');
    const otherBytes = await s.put(meta('CP-1', 'cmd-1', otherBody), otherBody, T0 + 2);
    expect(otherCmd.created && otherBytes.created).toBe(true);
    expect((await s.list('CP-1', 10)).map((r) => r.id)).toEqual([otherBytes.record.id, otherCmd.record.id, first.record.id]);
    expect((await s.list('CP-1', 2)).map((r) => r.id)).toEqual([otherBytes.record.id, otherCmd.record.id]);
    await s.close();
  });

  it('two clouds handed the same file at once store it once and both answer the same record', async () => {
    const [a, openOther] = await open();
    const b = await openOther();
    const body = Buffer.alloc(64 * 1024, 7);
    const results = await Promise.all([...Array(6).keys()].map((i) => (i % 2 === 0 ? a : b).put(meta('CP-9', 'cmd-x', body), body, T0 + i)));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.record.id)).size).toBe(1);
    expect(await a.list('CP-9', 10)).toHaveLength(1);
    expect((await b.body('CP-9', results[0]!.record.id))!.equals(body)).toBe(true);
    await b.close();
    await a.close();
  });

  it('prunes files received before the cutoff, bytes included, and keeps the rest', async () => {
    const [s] = await open();
    const old = Buffer.from('old'), fresh = Buffer.from('fresh');
    const o = await s.put(meta('CP-1', 'cmd-old', old), old, T0 - 31 * DAY);
    const f = await s.put(meta('CP-1', 'cmd-new', fresh), fresh, T0);
    expect(await s.prune(T0 - 30 * DAY)).toBe(1);
    expect(await s.get('CP-1', o.record.id)).toBeUndefined();
    expect(await s.body('CP-1', o.record.id)).toBeUndefined();
    expect((await s.list('CP-1', 10)).map((r) => r.id)).toEqual([f.record.id]);
    expect(await s.prune(T0 - 30 * DAY)).toBe(0);
    // the same file again after pruning is stored anew
    expect((await s.put(meta('CP-1', 'cmd-old', old), old, T0)).created).toBe(true);
    await s.close();
  });
});

describe('diagnostics store on SQLite', () => {
  it('keeps the bytes owner-only beside the database and deletes them with the row', async () => {
    const dir = path.join(tmp.dir, 'files');
    const s = new SqliteDiagnosticsStore(path.join(dir, 'ocpp-diagnostics.sqlite'));
    const body = Buffer.from('x');
    const { record } = await s.put(meta('CP-1', 'c', body), body, T0);
    expect(readdirSync(path.join(dir, 'ocpp-diagnostics'))).toEqual([record.id]);
    await s.prune(T0 + 1);
    expect(readdirSync(path.join(dir, 'ocpp-diagnostics'))).toEqual([]);
    await s.close();
  });

  it('at open removes what a crash left (files without a row, .part files), logged once with the number; stored files stay', async () => {
    const dir = path.join(tmp.dir, 'crash');
    const db = path.join(dir, 'ocpp-diagnostics.sqlite');
    const files = path.join(dir, 'ocpp-diagnostics');
    const { stream, lines } = logLines<{ msg: string; swept?: number }>();
    const logger = pino({ level: 'info' }, stream);
    const first = new SqliteDiagnosticsStore(db, logger);
    expect(first.swept).toBe(0);
    const body = Buffer.from('kept');
    const { record } = await first.put(meta('CP-1', 'c', body), body, T0);
    await first.close();
    // a put that died after its rename, one that died before it, and a stray subfolder (not a file: left)
    writeFileSync(path.join(files, randomUUID()), 'orphan');
    writeFileSync(path.join(files, '.x.part'), 'half');
    mkdirSync(path.join(files, 'sub'));
    const again = new SqliteDiagnosticsStore(db, logger);
    expect(again.swept).toBe(2);
    expect(readdirSync(files).sort()).toEqual([record.id, 'sub'].sort());
    expect((await again.body('CP-1', record.id))!.equals(body)).toBe(true);
    expect(lines.filter((l) => l.msg === 'diagnostics files without a row removed at open')).toEqual([expect.objectContaining({ swept: 2 })]);
    await again.close();
  });
});
