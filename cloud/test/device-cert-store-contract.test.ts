import { afterAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { SqliteDeviceCertStore, type DeviceCertStore, type NewCert } from '../src/device-certs/store.js';
import { PgDeviceCertStore } from '../src/device-certs/pg-device-cert-store.js';
import { CloudErrorCode } from '../src/errors.js';
import type { PostgresDatabase } from '../src/db/postgres.js';
import { usePostgres } from './pg-support.js';
import { secondCloud } from './pg-two-clouds.js';
import { tempDir } from './helpers.js';

const pgs = usePostgres();
const tmp = tempDir('certs-contract-');
const extra: PostgresDatabase[] = [];
afterAll(async () => {
  await Promise.all(extra.map((d) => d.close()));
  tmp.cleanup();
});
let n = 0;
const impls: [string, () => Promise<DeviceCertStore>][] = [['sqlite', async () => new SqliteDeviceCertStore(path.join(tmp.dir, `certs-${n++}.sqlite`))]];
if (!pgs.skip) impls.push(['postgres', async () => PgDeviceCertStore.open(await pgs.fresh())]);

const T0 = new Date('2026-06-01T00:00:00.000Z');
const at = (h: number): Date => new Date(T0.getTime() + h * 3_600_000);
const cert = (fp: string, deviceId: string, serial: string, over: Partial<NewCert> = {}): NewCert => ({
  fingerprint: fp.repeat(64).slice(0, 64), deviceId, serial, notAfter: '2027-06-01T00:00:00.000Z', issuedAt: T0.toISOString(), ...over,
});
const fp = (c: string): string => c.repeat(64).slice(0, 64);

describe.each(impls)('device certificate store contract (%s)', (_name, open) => {
  it('a stored certificate is active for its device only; a fingerprint or serial number twice is refused', async () => {
    const s = await open();
    await s.add(cert('a', 'dev-1', '01'));
    expect((await s.active('dev-1', fp('a'), at(1)))?.serial).toBe('01');
    expect(await s.active('dev-2', fp('a'), at(1))).toBeUndefined();
    await expect(s.add(cert('a', 'dev-2', '02'))).rejects.toMatchObject({ code: CloudErrorCode.Duplicate });
    await expect(s.add(cert('b', 'dev-2', '01'))).rejects.toMatchObject({ code: CloudErrorCode.Duplicate });
    await s.add(cert('c', 'dev-1', '03', { notAfter: at(2).toISOString() }));
    expect(await s.active('dev-1', fp('c'), at(3))).toBeUndefined();
    expect((await s.usable('dev-1', at(1))).map((c) => c.fingerprint).sort()).toEqual([fp('a'), fp('c')]);
    expect((await s.list('dev-1')).map((c) => c.serial).sort()).toEqual(['01', '03']);
    await s.close();
  });

  it('revokes all of a device\'s certificates or one, once; revoked ones are listed until they expire', async () => {
    const s = await open();
    await s.add(cert('a', 'dev-1', '01'));
    await s.add(cert('b', 'dev-1', '02', { notAfter: '2026-01-01T00:00:00.000Z' }));
    await s.add(cert('c', 'dev-2', '03'));
    expect((await s.revoke('dev-2', at(0).toISOString(), fp('c'))).map((r) => r.revokedAt)).toEqual([at(0).toISOString()]);
    expect(await s.revoke('dev-2', at(1).toISOString(), fp('c'))).toEqual([]);
    expect((await s.revoke('dev-1', at(1).toISOString())).map((r) => r.fingerprint).sort()).toEqual([fp('a'), fp('b')]);
    expect(await s.active('dev-1', fp('a'), at(2))).toBeUndefined();
    expect((await s.revokedFingerprints(at(2))).sort()).toEqual([fp('a'), fp('c')]);
    await s.close();
  });

  it('rotation: the successor retires its predecessor on first use (once), a second unused successor is revoked, a grace ends', async () => {
    const s = await open();
    await s.add(cert('a', 'dev-1', '01'));
    expect(await s.addSuccessor(cert('b', 'dev-1', '02'), [fp('a')], at(24).toISOString())).toEqual([]);
    expect((await s.list('dev-1')).find((c) => c.fingerprint === fp('a'))).toMatchObject({ replacedBy: fp('b'), retireAt: at(24).toISOString() });
    // asked again (the answer was lost): the unused first successor is revoked, the grace not stretched
    expect(await s.addSuccessor(cert('c', 'dev-1', '03'), [fp('a')], at(48).toISOString())).toEqual([fp('b')]);
    expect((await s.list('dev-1')).find((c) => c.fingerprint === fp('a'))?.retireAt).toBe(at(24).toISOString());
    expect(await s.markUsed(fp('c'), at(1))).toEqual([fp('a')]);
    expect(await s.markUsed(fp('c'), at(2))).toEqual([]);
    expect(await s.active('dev-1', fp('a'), at(2))).toBeUndefined();
    // a grace that ends without the successor being used
    await s.add(cert('d', 'dev-2', '04'));
    await s.addSuccessor(cert('e', 'dev-2', '05'), [fp('d')], at(5).toISOString());
    expect(await s.retireDue(at(4))).toEqual([]);
    expect(await s.active('dev-2', fp('d'), at(6))).toBeUndefined();
    expect(await s.retireDue(at(6))).toEqual([fp('d')]);
    expect(await s.retireDue(at(7))).toEqual([]);
    await s.close();
  });
});

describe.skipIf(pgs.skip)('device certificates with two clouds on one PostgreSQL database', () => {
  it('a revocation through one cloud is refused by the other, and both list it for the broker', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    extra.push(dbB);
    const [a, b] = [await PgDeviceCertStore.open(dbA), await PgDeviceCertStore.open(dbB)];
    await a.add(cert('a', 'dev-1', '01'));
    expect(await b.active('dev-1', fp('a'), at(1))).toBeDefined();
    const [ra, rb] = await Promise.all([a.revoke('dev-1', at(1).toISOString()), b.revoke('dev-1', at(1).toISOString())]);
    // revoked once: one cloud reports it (and pushes it to the broker), not both
    expect([...ra, ...rb].map((r) => r.fingerprint)).toEqual([fp('a')]);
    expect(await b.active('dev-1', fp('a'), at(2))).toBeUndefined();
    expect(await b.revokedFingerprints(at(2))).toEqual([fp('a')]);
  });

  it('serial numbers are unique across clouds: the same serial stored by both at once is kept once', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    extra.push(dbB);
    const [a, b] = [await PgDeviceCertStore.open(dbA), await PgDeviceCertStore.open(dbB)];
    const r = await Promise.allSettled([a.add(cert('a', 'dev-1', '7f01')), b.add(cert('b', 'dev-2', '7f01'))]);
    expect(r.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
    expect(r.find((x) => x.status === 'rejected')).toMatchObject({ reason: { code: CloudErrorCode.Duplicate } });
  });

  it('a first login seen by both clouds at once retires the predecessor once', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    extra.push(dbB);
    const [a, b] = [await PgDeviceCertStore.open(dbA), await PgDeviceCertStore.open(dbB)];
    await a.add(cert('a', 'dev-1', '01'));
    await b.addSuccessor(cert('b', 'dev-1', '02'), [fp('a')], at(24).toISOString());
    const [ua, ub] = await Promise.all([a.markUsed(fp('b'), at(1)), b.markUsed(fp('b'), at(1))]);
    expect([...ua, ...ub]).toEqual([fp('a')]);
  });
});
