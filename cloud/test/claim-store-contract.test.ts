import { afterAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { SqliteClaimStore, type ClaimStore } from '../src/claims/store.js';
import { PgClaimStore } from '../src/claims/pg-claim-store.js';
import { ClaimService, REFUSED_ACTION } from '../src/claims/service.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import type { PostgresDatabase } from '../src/db/postgres.js';
import { usePostgres } from './pg-support.js';
import { secondCloud } from './pg-two-clouds.js';
import { silentLogger, tempDir } from './helpers.js';
import type { ClaimRecord } from '../src/claims/store.js';

const pgs = usePostgres();
const tmp = tempDir('claims-contract-');
const extra: PostgresDatabase[] = [];
afterAll(async () => {
  await Promise.all(extra.map((d) => d.close()));
  tmp.cleanup();
});
let n = 0;

type Factory = () => Promise<ClaimStore>;
const impls: [string, Factory][] = [['sqlite', async () => new SqliteClaimStore(path.join(tmp.dir, `claims-${n++}.sqlite`))]];
if (!pgs.skip) impls.push(['postgres', async () => PgClaimStore.open(await pgs.fresh())]);

const NOW = '2026-06-01T00:00:00.000Z';
const claim = (id: string, maxCount: number, over: Partial<ClaimRecord> = {}): ClaimRecord => ({
  id, kind: 'env-monitor', site: 'site-a', maxCount, usedCount: 0, expiresAt: '2027-01-01T00:00:00.000Z', revokedAt: null,
  description: null, createdAt: '2026-01-01T00:00:00.000Z', ...over,
});

describe.each(impls)('claim store contract (%s)', (_name, open) => {
  it('stores a claim once, reads it back with its hash, lists by id', async () => {
    const s = await open();
    expect(await s.insert(claim('b-batch', 2), 'hash-b')).toBe(true);
    expect(await s.insert(claim('a-batch', 1), 'hash-a')).toBe(true);
    expect(await s.insert(claim('a-batch', 5), 'other')).toBe(false);
    expect((await s.get('a-batch'))?.maxCount).toBe(1);
    expect((await s.withHash('b-batch'))?.hash).toBe('hash-b');
    expect(await s.get('nope')).toBeUndefined();
    expect((await s.list()).map((c) => c.id)).toEqual(['a-batch', 'b-batch']);
    await s.close();
  });

  it('reserves slots, refuses a reused serial, an exhausted, revoked or expired claim, and gives a slot back', async () => {
    const s = await open();
    await s.insert(claim('batch', 2), 'h');
    expect(await s.reserve('unknown', 'S1', 'S1', 'mqtt', NOW)).toMatchObject({ ok: false, reason: 'bad-credentials' });
    expect(await s.reserve('batch', 'S1', 'S1', 'mqtt', NOW)).toMatchObject({ ok: true, claim: { usedCount: 1 } });
    expect(await s.reserve('batch', 'S1', 'S1', 'http', NOW)).toMatchObject({ ok: false, reason: 'serial-used' });
    expect(await s.reserve('batch', 'S2', 'S2', 'http', NOW)).toMatchObject({ ok: true, claim: { usedCount: 2 } });
    expect(await s.reserve('batch', 'S3', 'S3', 'http', NOW)).toMatchObject({ ok: false, reason: 'exhausted' });
    expect(await s.used('batch', 'S2')).toBe(true);
    await s.release('batch', 'S2');
    await s.release('batch', 'S2');
    expect(await s.used('batch', 'S2')).toBe(false);
    expect((await s.get('batch'))?.usedCount).toBe(1);
    expect((await s.uses('batch')).map((u) => [u.serial, u.deviceId, u.via])).toEqual([['S1', 'S1', 'mqtt']]);
    expect(await s.reserve('batch', 'S3', 'S3', 'http', NOW)).toMatchObject({ ok: true });
    await s.insert(claim('old', 5, { expiresAt: '2026-05-31T23:59:59.000Z' }), 'h');
    expect(await s.reserve('old', 'S4', 'S4', 'mqtt', NOW)).toMatchObject({ ok: false, reason: 'expired' });
    await s.insert(claim('gone', 5), 'h');
    const first = await s.revoke('gone', '2026-05-01T00:00:00.000Z');
    expect((await s.revoke('gone', '2026-05-02T00:00:00.000Z'))?.revokedAt).toBe(first?.revokedAt);
    expect(await s.reserve('gone', 'S4', 'S4', 'mqtt', NOW)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(await s.revoke('nope', NOW)).toBeUndefined();
    await s.close();
  });

  it('keeps an audit trail, newest first, filtered by claim and action', async () => {
    const s = await open();
    await s.insert(claim('c1', 1), 'h');
    await s.event('2026-01-01T00:00:00.000Z', 'c1', 'admin-token', 'claim.create', null, 'count=1');
    await s.event('2026-01-02T00:00:00.000Z', 'c1', 'device:S1', REFUSED_ACTION, 'S1', 'serial-used');
    await s.event('2026-01-03T00:00:00.000Z', 'c2', 'device:S2', REFUSED_ACTION, 'S2', 'expired');
    expect((await s.events({ limit: 10 })).map((e) => e.claimId)).toEqual(['c2', 'c1', 'c1']);
    expect((await s.events({ claimId: 'c1', limit: 10 })).map((e) => e.action)).toEqual([REFUSED_ACTION, 'claim.create']);
    expect((await s.events({ action: REFUSED_ACTION, limit: 1 })).map((e) => e.serial)).toEqual(['S2']);
    expect((await s.events({ claimId: 'c1', action: REFUSED_ACTION, limit: 10 }))[0]).toMatchObject({ actor: 'device:S1', detail: 'serial-used' });
    await s.close();
  });

  it('many exchanges racing for the last slot: exactly one wins', async () => {
    const s = await open();
    await s.insert(claim('last', 3), 'h');
    await s.reserve('last', 'A', 'A', 'mqtt', NOW);
    await s.reserve('last', 'B', 'B', 'mqtt', NOW);
    const r = await Promise.all(['C1', 'C2', 'C3', 'C4', 'C5', 'C6'].map((serial) => s.reserve('last', serial, serial, 'mqtt', NOW)));
    expect(r.filter((x) => x.ok)).toHaveLength(1);
    expect(r.filter((x) => !x.ok).map((x) => !x.ok && x.reason)).toEqual(Array(5).fill('exhausted'));
    expect((await s.get('last'))?.usedCount).toBe(3);
    expect(await s.uses('last')).toHaveLength(3);
    await s.close();
  });
});

describe.skipIf(pgs.skip)('claims with two clouds on one PostgreSQL database', () => {
  it('the last slot taken by exchanges on both clouds at once has exactly one winner', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    extra.push(dbB);
    const [a, b] = [await PgClaimStore.open(dbA), await PgClaimStore.open(dbB)];
    await a.insert(claim('last', 1), 'h');
    for (let round = 0; round < 5; round++) {
      if (round > 0) await a.release('last', (await a.uses('last'))[0]!.serial);
      const r = await Promise.all([1, 2, 3, 4].map((i) => (i % 2 ? a : b).reserve('last', `R${round}-${i}`, `R${round}-${i}`, 'mqtt', NOW)));
      expect(r.filter((x) => x.ok)).toHaveLength(1);
      expect(r.filter((x) => !x.ok && x.reason === 'exhausted')).toHaveLength(3);
      expect((await b.get('last'))?.usedCount).toBe(1);
    }
  });

  it('one serial exchanged on both clouds at once: one identity, the other refused and audited', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    extra.push(dbB);
    const devices = new SqliteDeviceRepository({ file: ':memory:' });
    try {
      const svcA = new ClaimService({ store: await PgClaimStore.open(dbA), devices, logger: silentLogger });
      const svcB = new ClaimService({ store: await PgClaimStore.open(dbB), devices, logger: silentLogger });
      const { record } = await svcA.create({ id: 'batch', kind: 'env-monitor', site: 'site-a', count: 10 }, 'admin-token');
      const r = await Promise.all([svcA.exchange(record.id, 'SN-1', undefined, 'mqtt'), svcB.exchange(record.id, 'SN-1', undefined, 'http')]);
      const ok = r.filter((x) => x.ok);
      expect(ok).toHaveLength(1);
      const refused = r.find((x) => !x.ok);
      expect(refused && !refused.ok && ['serial-used', 'device-exists']).toContain(refused && !refused.ok ? refused.reason : '');
      expect((await devices.get('SN-1'))?.site).toBe('site-a');
      expect((await svcB.get('batch')).usedCount).toBe(1);
      const audit = await svcA.events({ claimId: 'batch', refusedOnly: true, limit: 10 });
      expect(audit).toHaveLength(1);
      expect(audit[0]).toMatchObject({ serial: 'SN-1', action: REFUSED_ACTION });
      // and again, later, on either cloud: refused as a reused serial
      const again = await svcB.exchange(record.id, 'SN-1', undefined, 'mqtt');
      expect(again).toMatchObject({ ok: false, reason: 'serial-used' });
      expect(await svcA.events({ claimId: 'batch', refusedOnly: true, limit: 10 })).toHaveLength(2);
    } finally {
      await devices.close();
    }
  });
});
