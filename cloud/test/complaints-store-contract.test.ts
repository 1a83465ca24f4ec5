import { readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DbTarget } from '../src/db/target.js';
import type { PostgresDatabase } from '../src/db/postgres.js';
import type { EdgeClient } from '../src/edge-client.js';
import type { ComplaintRow, ComplaintsStore } from '../src/open/complaints-store.js';
import { openComplaints } from '../src/open/complaints-service.js';
import { openComplaintsStore } from '../src/open/pg-complaints-store.js';
import { solve } from '../src/open/proof-of-work.js';
import type { DeviceRepository } from '../src/repositories/device-repository.js';
import { silentLogger, tempDir } from './helpers.js';
import { usePostgres } from './pg-support.js';
import { secondCloud } from './pg-second-cloud.js';

const pgs = usePostgres();
const tmp = tempDir('yulan-complaints-contract-');
afterAll(() => tmp.cleanup());
let n = 0;
const HOUR = 3_600_000;

/** Each implementation: where it keeps data, and every byte it has on disk after its store shut down. */
interface Impl { target: DbTarget; bytesOnDisk: () => Promise<Buffer> }
const factories: [string, () => Promise<Impl>][] = [
  ['sqlite', async () => {
    const file = join(tmp.dir, `complaints-${n++}.sqlite`);
    return { target: { kind: 'sqlite', file }, bytesOnDisk: async () => readFileSync(file) };
  }],
  ['postgres', async () => {
    const db = await pgs.fresh();
    return { target: { kind: 'postgres', db }, bytesOnDisk: () => tableFile(db) };
  }],
];

async function tableFile(db: PostgresDatabase): Promise<Buffer> {
  await db.query('checkpoint', 'CHECKPOINT');
  const r = await db.query<{ p: string }>('path', "SELECT current_setting('data_directory') || '/' || pg_relation_filepath('complaints.complaints') AS p");
  return readFileSync(r.rows[0]!.p);
}

const complaint = (id: string, o: Partial<ComplaintRow> = {}): ComplaintRow => ({
  id, receiptHash: `rh-${id}`, site: 'xuhui', kind: 'smoke', createdAt: 1_000_000, status: 'open', closedAt: null, resolution: null,
  contactEnc: null, evidence: JSON.stringify({ at: '2026-01-01T00:00:00.000Z', monitors: { 'env-1': null } }), ...o,
});

const noDevices = {} as DeviceRepository;
const noEdge = {} as EdgeClient;

describe.each(factories)('complaints store contract (%s)', (kind, make) => {
  const skip = kind === 'postgres' && pgs.skip;

  it.skipIf(skip)('stores, finds by id and receipt, lists newest first with filters, counts per site and kind', async () => {
    const s = await openComplaintsStore((await make()).target, silentLogger);
    await s.insert(complaint('c-1', { createdAt: 1000, contactEnc: Buffer.from([1, 2, 3]) }));
    await s.insert(complaint('c-2', { createdAt: 2000, kind: 'noise' }));
    await s.insert(complaint('c-3', { createdAt: 3000, site: 'pudong' }));
    const one = await s.get('c-1');
    expect(one).toEqual({ ...complaint('c-1', { createdAt: 1000, contactEnc: Buffer.from([1, 2, 3]) }), evidence: expect.any(String) });
    expect(JSON.parse(one!.evidence)).toEqual({ at: '2026-01-01T00:00:00.000Z', monitors: { 'env-1': null } });
    expect((await s.byReceipt('rh-c-2'))?.id).toBe('c-2');
    expect(await s.byReceipt('nope')).toBeUndefined();
    expect((await s.list({ limit: 10, offset: 0 })).map((c) => c.id)).toEqual(['c-3', 'c-2', 'c-1']);
    expect((await s.list({ site: 'xuhui', limit: 1, offset: 1 })).map((c) => c.id)).toEqual(['c-1']);
    expect(await s.close('c-2', 5000, 'fixed', { actor: 'op', action: 'closed', detail: 'fixed' })).toBe(true);
    expect((await s.list({ status: 'closed', limit: 10, offset: 0 })).map((c) => c.id)).toEqual(['c-2']);
    expect(await s.counts(1500)).toEqual([
      { site: 'pudong', kind: 'smoke', open: 1, closed: 0 }, { site: 'xuhui', kind: 'noise', open: 0, closed: 1 }]);
    await s.shutdown();
  });

  it.skipIf(skip)('closes once, erasing the contact in the same step as its audit row', async () => {
    const s = await openComplaintsStore((await make()).target, silentLogger);
    await s.insert(complaint('c-1', { contactEnc: Buffer.from('sealed') }));
    await s.audit({ at: 10, actor: 'op@1', action: 'contact.read', complaintId: 'c-1', detail: 'call back' });
    expect(await s.close('c-1', 20, 'done', { actor: 'op@1', action: 'closed', detail: 'done' })).toBe(true);
    expect(await s.close('c-1', 30, 'again', { actor: 'op@2', action: 'closed', detail: 'again' })).toBe(false);
    expect(await s.get('c-1')).toMatchObject({ status: 'closed', closedAt: 20, resolution: 'done', contactEnc: null });
    expect(await s.auditOf('c-1')).toEqual([
      { at: 10, actor: 'op@1', action: 'contact.read', complaintId: 'c-1', detail: 'call back' },
      { at: 20, actor: 'op@1', action: 'closed', complaintId: 'c-1', detail: 'done' }]);
    expect(await s.close('c-unknown', 30, 'x', { actor: 'op', action: 'closed', detail: 'x' })).toBe(false);
    await s.shutdown();
  });

  it.skipIf(skip)('an erased contact is gone from the files on disk, not only from query results', async () => {
    const impl = await make();
    const s = await openComplaintsStore(impl.target, silentLogger);
    const marker = Buffer.from(`SEALED-CONTACT-${randomBytes(8).toString('hex')}`);
    const kept = Buffer.from(`KEPT-CONTACT-${randomBytes(8).toString('hex')}`);
    for (let i = 0; i < 20; i++) await s.insert(complaint(`c-${i}`, { contactEnc: i === 7 ? marker : i === 8 ? kept : null }));
    expect(await s.close('c-7', 20, 'done', { actor: 'op', action: 'closed', detail: 'done' })).toBe(true);
    await s.shutdown();
    const bytes = await impl.bytesOnDisk();
    expect(bytes.includes(kept)).toBe(true); // the check can see a contact that is there
    expect(bytes.includes(marker)).toBe(false);
  });

  it.skipIf(skip)('counts at most `max` submissions per address in a sliding hour, and says how long to wait', async () => {
    const s = await openComplaintsStore((await make()).target, silentLogger);
    const t0 = 10 * HOUR;
    for (let i = 0; i < 5; i++) expect(await s.takeSubmission('addr-a', t0 + i * 60_000, HOUR, 5)).toBe(0);
    expect(await s.takeSubmission('addr-a', t0 + 10 * 60_000, HOUR, 5)).toBe(HOUR - 10 * 60_000);
    expect(await s.takeSubmission('addr-b', t0 + 10 * 60_000, HOUR, 5)).toBe(0);
    // the refused attempt was not counted: once the first leaves the window, one more fits
    expect(await s.takeSubmission('addr-a', t0 + HOUR, HOUR, 5)).toBe(0);
    expect(await s.takeSubmission('addr-a', t0 + HOUR + 1, HOUR, 5)).toBeGreaterThan(0);
    await s.shutdown();
  });

  it.skipIf(skip)('keeps the first key check value, and the service refuses a different key file with a clear message', async () => {
    const impl = await make();
    const s = await openComplaintsStore(impl.target, silentLogger);
    expect(await s.keyCheck('first')).toBe('first');
    expect(await s.keyCheck('second')).toBe('first');
    await s.shutdown();
    const impl2 = await make();
    const keyA = join(tmp.dir, `a-${n}.key`);
    const keyB = join(tmp.dir, `b-${n}.key`);
    writeFileSync(keyB, randomBytes(32).toString('base64'), { mode: 0o600 });
    const first = await openComplaints({ target: impl2.target, keyFile: keyA, devices: noDevices, edge: noEdge, logger: silentLogger });
    await first.shutdown();
    const again = await openComplaints({ target: impl2.target, keyFile: keyA, devices: noDevices, edge: noEdge, logger: silentLogger });
    await again.shutdown();
    await expect(openComplaints({ target: impl2.target, keyFile: keyB, devices: noDevices, edge: noEdge, logger: silentLogger }))
      .rejects.toThrow(/encrypted with another key than .*b-\d+\.key.*same complaints\.key/);
  });
});

describe.each(factories)('complaints proof of work on every cloud (%s)', (kind, make) => {
  it.skipIf(kind === 'postgres' && pgs.skip)('a challenge from one cloud is good on another with the same key file, once in all', async () => {
    const impl = await make();
    const key = join(tmp.dir, `pow-${n++}.key`);
    const a = await openComplaints({ target: impl.target, keyFile: key, devices: noDevices, edge: noEdge, logger: silentLogger, powBits: 4 });
    const b = await openComplaints({ target: impl.target, keyFile: key, devices: noDevices, edge: noEdge, logger: silentLogger, powBits: 4 });
    try {
      const { challenge } = a.pow.issue();
      const nonce = solve(challenge, 4);
      expect(b.pow.redeem(challenge, nonce)).toBeUndefined(); // not "forged"
      const exp = Number(challenge.split('.')[0]);
      expect(await b.store.redeemChallenge('h1', exp, exp - 1000)).toBe(true);
      expect(await a.store.redeemChallenge('h1', exp, exp - 1000)).toBe(false);
      // expired marks are dropped, so the table does not grow
      expect(await a.store.redeemChallenge('h2', exp + 5000, exp + 1)).toBe(true);
      expect(await a.store.redeemChallenge('h1', exp + 5000, exp + 1)).toBe(true);
    } finally { await a.shutdown(); await b.shutdown(); }
  });
});

describe.skipIf(pgs.skip)('two clouds on one PostgreSQL database: complaints', () => {
  it('one proof-of-work challenge redeemed on both clouds at once counts once', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    try {
      const [a, b] = await Promise.all([openComplaintsStore({ kind: 'postgres', db: dbA }, silentLogger), openComplaintsStore({ kind: 'postgres', db: dbB }, silentLogger)]);
      const r = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).redeemChallenge('same', 2_000_000_000_000, 1_000_000_000_000)));
      expect(r.filter(Boolean)).toHaveLength(1);
    } finally { await dbB.close(); }
  });

  it('the per-address budget holds across both clouds: 12 submissions at once from one address, 5 counted', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    try {
      const [a, b] = await Promise.all([openComplaintsStore({ kind: 'postgres', db: dbA }, silentLogger), openComplaintsStore({ kind: 'postgres', db: dbB }, silentLogger)]);
      const t = 100 * HOUR;
      const waits = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).takeSubmission('addr-x', t + i, HOUR, 5)));
      expect(waits.filter((w) => w === 0)).toHaveLength(5);
      const rows = await dbA.query<{ n: number }>('count', "SELECT COUNT(*)::int AS n FROM complaints.submissions WHERE address_key = 'addr-x'");
      expect(rows.rows[0]?.n).toBe(5);
    } finally { await dbB.close(); }
  });

  it('a complaint closed on both clouds at once is closed and audited once', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    try {
      const a: ComplaintsStore = await openComplaintsStore({ kind: 'postgres', db: dbA }, silentLogger);
      const b: ComplaintsStore = await openComplaintsStore({ kind: 'postgres', db: dbB }, silentLogger);
      await a.insert(complaint('c-1', { contactEnc: Buffer.from('sealed') }));
      const r = await Promise.all([a.close('c-1', 10, 'by a', { actor: 'a', action: 'closed', detail: 'by a' }), b.close('c-1', 11, 'by b', { actor: 'b', action: 'closed', detail: 'by b' })]);
      expect(r.filter(Boolean)).toHaveLength(1);
      const audit = await b.auditOf('c-1');
      expect(audit).toHaveLength(1);
      expect((await a.get('c-1'))?.resolution).toBe(audit[0]!.detail);
    } finally { await dbB.close(); }
  });
});
