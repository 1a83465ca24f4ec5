import { afterAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { SqliteUpdatePolicyStore, type UpdatePolicyStore } from '../src/firmware/update-policy-store.js';
import { PgUpdatePolicyStore } from '../src/firmware/pg-update-policy-store.js';
import type { PostgresDatabase } from '../src/db/postgres.js';
import { usePostgres } from './pg-support.js';
import { secondCloud } from './pg-two-clouds.js';
import { tempDir } from './helpers.js';

const pgs = usePostgres();
const tmp = tempDir('update-policy-contract-');
const extra: PostgresDatabase[] = [];
afterAll(async () => {
  await Promise.all(extra.map((d) => d.close()));
  tmp.cleanup();
});
let n = 0;

type Factory = () => Promise<UpdatePolicyStore>;
const impls: [string, Factory][] = [['sqlite', async () => new SqliteUpdatePolicyStore(path.join(tmp.dir, `policy-${n++}.sqlite`))]];
if (!pgs.skip) impls.push(['postgres', async () => PgUpdatePolicyStore.open(await pgs.fresh())]);

const AT = '2026-06-01T00:00:00.000Z';

describe.each(impls)('update policy store contract (%s)', (_name, open) => {
  it('sets, replaces, lists by kind and clears a minimum version', async () => {
    const s = await open();
    expect(await s.list()).toEqual([]);
    await s.set({ kind: 'parcel-locker', version: '2.0.0', security: false, advisory: null, setAt: AT, setBy: 'admin-token' });
    await s.set({ kind: 'env-monitor', version: '1.2.0', security: true, advisory: 'CVE-2026-1', setAt: AT, setBy: 'user:ada' });
    await s.set({ kind: 'env-monitor', version: '1.3.0', security: false, advisory: null, setAt: '2026-06-02T00:00:00.000Z', setBy: 'user:bob' });
    expect(await s.list()).toEqual([
      { kind: 'env-monitor', version: '1.3.0', security: false, advisory: null, setAt: '2026-06-02T00:00:00.000Z', setBy: 'user:bob' },
      { kind: 'parcel-locker', version: '2.0.0', security: false, advisory: null, setAt: AT, setBy: 'admin-token' },
    ]);
    expect(await s.clear('env-monitor')).toBe(true);
    expect(await s.clear('env-monitor')).toBe(false);
    expect((await s.list()).map((m) => m.kind)).toEqual(['parcel-locker']);
    await s.close();
  });

  it('keeps a security flag and advisory as set', async () => {
    const s = await open();
    await s.set({ kind: 'ev-charger', version: '3.1.4', security: true, advisory: 'fixes the TLS downgrade', setAt: AT, setBy: 'admin-token' });
    expect((await s.list())[0]).toMatchObject({ security: true, advisory: 'fixes the TLS downgrade' });
    await s.close();
  });
});

describe.skipIf(pgs.skip)('update policy store, two clouds on one database', () => {
  it('a minimum set on one cloud is in force on the other; racing sets of one kind leave one row', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    extra.push(dbB);
    const [a, b] = [await PgUpdatePolicyStore.open(dbA), await PgUpdatePolicyStore.open(dbB)];
    await a.set({ kind: 'env-monitor', version: '1.0.0', security: false, advisory: null, setAt: AT, setBy: 'a' });
    expect((await b.list()).map((m) => m.version)).toEqual(['1.0.0']);
    await Promise.all([1, 2, 3, 4].map((i) => (i % 2 ? a : b).set({ kind: 'env-monitor', version: `1.${i}.0`, security: false, advisory: null, setAt: AT, setBy: `c${i}` })));
    const rows = await a.list();
    expect(rows).toHaveLength(1);
    expect(['1.1.0', '1.2.0', '1.3.0', '1.4.0']).toContain(rows[0]!.version);
    expect(await b.clear('env-monitor')).toBe(true);
    expect(await a.list()).toEqual([]);
  });
});
