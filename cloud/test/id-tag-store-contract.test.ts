import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DbTarget } from '../src/db/target.js';
import { IdTagService } from '../src/ocpp/id-tag-service.js';
import { EVERY_SITE, type IdTagStore } from '../src/ocpp/id-tag-store.js';
import { openIdTagStore } from '../src/ocpp/pg-id-tag-store.js';
import type { DeviceRepository } from '../src/repositories/device-repository.js';
import { silentLogger, tempDir } from './helpers.js';
import { usePostgres } from './pg-support.js';
import { secondCloud } from './pg-second-cloud.js';

const pgs = usePostgres();
const tmp = tempDir('yulan-idtag-contract-');
afterAll(() => tmp.cleanup());
let n = 0;

const factories: [string, () => Promise<DbTarget>][] = [
  ['sqlite', async () => ({ kind: 'sqlite', file: join(tmp.dir, `id-tags-${n++}.sqlite`) })],
  ['postgres', async () => ({ kind: 'postgres', db: await pgs.fresh() })],
];
const T1 = '2026-01-01T00:00:00.000Z';
const T2 = '2026-01-02T00:00:00.000Z';
// Operator-wide tags only: the service then never asks the registry about a site.
const service = (store: IdTagStore): IdTagService => new IdTagService(store, {} as DeviceRepository, silentLogger);
const fields = { status: 'Accepted' as const, expiryMs: null, parent: null, note: null };

describe.each(factories)('id tag store contract (%s)', (kind, make) => {
  const skip = kind === 'postgres' && pgs.skip;

  it.skipIf(skip)('versions every change, keeps removals as tombstones, and feeds them in version order with the list version', async () => {
    const s = await openIdTagStore(await make());
    expect(await s.version()).toBe(0);
    const a = await s.write('CARD-1', EVERY_SITE, () => ({ ...fields, note: 'n' }), 'admin', 'add', T1);
    expect(a).toEqual({ tag: 'CARD-1', scope: '*', ...fields, note: 'n', deleted: false, version: 1, createdAt: T1, updatedAt: T1 });
    await s.write('CARD-2', 'xuhui', () => ({ ...fields, expiryMs: 1_800_000_000_000, parent: 'CARD-1' }), 'admin', 'add', T1);
    const seen: unknown[] = [];
    await s.write('CARD-1', EVERY_SITE, (cur) => { seen.push(cur?.version); return { ...cur!, status: 'Blocked' }; }, 'admin', 'block', T2);
    expect(seen).toEqual([1]);
    expect(await s.get('CARD-1', EVERY_SITE)).toMatchObject({ status: 'Blocked', note: 'n', version: 3, createdAt: T1, updatedAt: T2 });
    expect(await s.remove('CARD-2', 'xuhui', 'admin', T2)).toBe(true);
    expect(await s.remove('CARD-2', 'xuhui', 'admin', T2)).toBe(false);
    expect(await s.remove('NOPE', EVERY_SITE, 'admin', T2)).toBe(false);
    expect(await s.version()).toBe(4);
    const all = await s.changesSince(0, 10);
    expect(all.version).toBe(4);
    expect(all.rows.map((r) => [r.tag, r.version, r.deleted])).toEqual([['CARD-1', 3, false], ['CARD-2', 4, true]]);
    expect((await s.changesSince(3, 10)).rows.map((r) => r.tag)).toEqual(['CARD-2']);
    expect(await s.changesSince(4, 10)).toEqual({ rows: [], version: 4 });
    expect((await s.list({ limit: 10, offset: 0 })).map((r) => r.tag)).toEqual(['CARD-1']);
    expect(await s.list({ status: 'Accepted', limit: 10, offset: 0 })).toEqual([]);
    // re-adding over a tombstone: a new entry (new created_at), the next version
    const again = await s.write('CARD-2', 'xuhui', () => fields, 'admin', 'add', '2026-01-03T00:00:00.000Z');
    expect(again).toMatchObject({ deleted: false, version: 5, createdAt: '2026-01-03T00:00:00.000Z' });
    expect((await s.auditOf('CARD-2', 10)).map((r) => r.action)).toEqual(['add', 'remove', 'add']);
    expect((await s.auditOf('CARD-1', 10))[0]).toEqual({ at: T2, actor: 'admin', scope: '*', action: 'block', detail: JSON.stringify({ status: 'Blocked', expiryMs: null, parent: null }) });
    await s.close();
  });

  it.skipIf(skip)('a change refused inside the write (duplicate add, update of an unlisted tag) writes nothing and spends no version', async () => {
    const s = await openIdTagStore(await make());
    const svc = service(s);
    await svc.add('card-1', null, {}, 'admin');
    await expect(svc.add('CARD-1', null, {}, 'admin')).rejects.toMatchObject({ code: 'E_DUPLICATE' });
    await expect(svc.update('card-9', null, { status: 'Blocked' }, 'admin')).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    await expect(svc.remove('card-9', null, 'admin')).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    expect(await s.version()).toBe(1);
    expect((await s.auditOf('CARD-1', 10)).map((r) => r.action)).toEqual(['add']);
    const feed = await svc.changes(0, 10);
    expect(feed).toEqual({ version: 1, more: false, items: [{ tag: 'CARD-1', site: null, status: 'Accepted', expiryDate: null, parentIdTag: null, deleted: false, version: 1 }] });
    await s.close();
  });
});

describe.skipIf(pgs.skip)('two clouds on one PostgreSQL database: id tags', () => {
  it('a gateway syncing while both clouds write sees every change exactly once, in version order', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    try {
      const [a, b] = [service(await openIdTagStore({ kind: 'postgres', db: dbA })), service(await openIdTagStore({ kind: 'postgres', db: dbB }))];
      const TAGS = 40;
      let writing = true;
      const got = new Map<string, number>();
      const versions: number[] = [];
      let cursor = 0;
      const sync = async (): Promise<void> => {
        for (;;) {
          const page = await (versions.length % 2 ? a : b).changes(cursor, 7);
          for (const it of page.items) { versions.push(it.version); got.set(it.tag, (got.get(it.tag) ?? 0) + 1); }
          cursor = page.version;
          if (!page.more) return;
        }
      };
      const gateway = (async () => { while (writing) await sync(); await sync(); })();
      await Promise.all(Array.from({ length: TAGS }, (_, i) => (i % 2 ? a : b).add(`card-${i}`, null, {}, i % 2 ? 'admin@a' : 'admin@b')));
      writing = false;
      await gateway;
      expect(versions).toEqual(Array.from({ length: TAGS }, (_, i) => i + 1));
      expect(got.size).toBe(TAGS);
      expect([...got.values()].every((c) => c === 1)).toBe(true);
    } finally { await dbB.close(); }
  });

  it('the same tag added on both clouds at once is added once; a block and a note written at once are both kept', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    try {
      const [a, b] = [service(await openIdTagStore({ kind: 'postgres', db: dbA })), service(await openIdTagStore({ kind: 'postgres', db: dbB }))];
      const r = await Promise.allSettled([a.add('card-x', null, {}, 'admin@a'), b.add('card-x', null, {}, 'admin@b')]);
      expect(r.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
      expect((r.find((x) => x.status === 'rejected') as PromiseRejectedResult).reason).toMatchObject({ code: 'E_DUPLICATE' });
      for (let i = 0; i < 5; i++) {
        await Promise.all([a.update('card-x', null, { status: i % 2 ? 'Accepted' : 'Blocked' }, 'admin@a', 'block'), b.update('card-x', null, { note: `note ${i}` }, 'admin@b')]);
        expect(await a.get('card-x', null)).toMatchObject({ status: i % 2 ? 'Accepted' : 'Blocked', note: `note ${i}` });
      }
    } finally { await dbB.close(); }
  });
});
