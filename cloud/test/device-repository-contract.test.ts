import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import { PgDeviceRepository } from '../src/repositories/pg-device-repository.js';
import { openDeviceRepository } from '../src/repositories/open-device-repository.js';
import { PostgresDatabase } from '../src/db/postgres.js';
import { CloudErrorCode } from '../src/errors.js';
import { ensureAdminToken, tokenMatches } from '../src/auth-tokens.js';
import { rotateAdminToken } from '../src/admin-token-rotation.js';
import { runDeviceRepositoryContract } from './device-repository.contract.js';
import { usePostgres } from './pg-support.js';

const dir = mkdtempSync(join(tmpdir(), 'yulan-cloud-repo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const pgs = usePostgres();

runDeviceRepositoryContract('sqlite (memory)', () => new SqliteDeviceRepository({ file: ':memory:' }));
let n = 0;
runDeviceRepositoryContract('sqlite (file)', () => new SqliteDeviceRepository({ file: join(dir, `r${n++}`, 'registry.sqlite') }));
if (!pgs.skip) runDeviceRepositoryContract('postgres', async () => openDeviceRepository({ kind: 'postgres', db: await pgs.fresh() }));

describe('SqliteDeviceRepository specifics', () => {
  it('keeps data across reopen (migrations are idempotent)', async () => {
    const file = join(dir, 'persist', 'registry.sqlite');
    const a = new SqliteDeviceRepository({ file });
    await a.create({ id: 'keep', site: 's', kind: 'env-monitor', secretHash: 'h' });
    await a.close();
    const b = new SqliteDeviceRepository({ file });
    expect((await b.get('keep'))?.kind).toBe('env-monitor');
    await b.close();
  });

  it('reports ping false after close', async () => {
    const r = new SqliteDeviceRepository({ file: ':memory:' });
    await r.close();
    expect(await r.ping()).toBe(false);
  });
});

/** A second cloud process: its own pool on the same database. */
function secondCloud(db: PostgresDatabase): PostgresDatabase {
  const url = (db.pool.options as { connectionString?: string }).connectionString;
  if (!url) throw new Error('no connection string');
  return new PostgresDatabase({ url, logger: pino({ level: 'silent' }) });
}

describe.skipIf(pgs.skip)('PgDeviceRepository: two clouds on one database', () => {
  const dev = (id: string, site: string): Parameters<PgDeviceRepository['create']>[0] => ({ id, site, kind: 'env-monitor', secretHash: `h-${site}` });

  it('keeps data across reopen and migrates once when both clouds open the registry at once', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    try {
      const [a, b] = await Promise.all([PgDeviceRepository.open({ db: dbA }), PgDeviceRepository.open({ db: dbB })]);
      await a.create(dev('keep', 's'));
      expect((await b.get('keep'))?.site).toBe('s');
      const v = await dbA.query<{ version: number }>('read', "SELECT version FROM public.yulan_schema WHERE component = 'registry'");
      expect(v.rows[0]?.version).toBe(1);
      await b.close();
      expect(await b.ping()).toBe(false);
      expect(await a.ping()).toBe(true); // the pool is the cloud's, not the store's
    } finally { await dbB.close(); }
  });

  it('the same device registered through both clouds at once: one wins, the other gets E_DUPLICATE', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    try {
      const a = await PgDeviceRepository.open({ db: dbA });
      const b = await PgDeviceRepository.open({ db: dbB });
      for (let i = 0; i < 10; i++) {
        const results = await Promise.allSettled([a.create(dev(`d${i}`, 'via-a')), b.create(dev(`d${i}`, 'via-b'))]);
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(1);
        expect(lost[0]!.reason).toMatchObject({ code: CloudErrorCode.Duplicate, message: `device "d${i}" already exists` });
        // The stored row is the winner's, whole: its site and its secret hash together.
        const winner = (won[0] as PromiseFulfilledResult<{ site: string }>).value.site;
        expect((await b.getSecretHash(`d${i}`))?.secretHash).toBe(`h-${winner}`);
      }
      expect((await a.list({ limit: 100, offset: 0 })).total).toBe(10);
    } finally { await dbB.close(); }
  });

  it('presence racing from two clouds: the newest state wins whatever order the writes land in', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    try {
      const a = await PgDeviceRepository.open({ db: dbA });
      const b = await PgDeviceRepository.open({ db: dbB });
      const ids = Array.from({ length: 40 }, (_, i) => `p${String(i).padStart(2, '0')}`);
      for (const id of ids) await a.create(dev(id, 's'));
      // Both clouds receive every presence message (each has its own MQTT session) and
      // apply overlapping batches in different orders; device i's newest message is at
      // ts 1000 + rounds, online when rounds is even.
      const rounds = 30;
      const batch = (r: number, reverse: boolean): { deviceId: string; online: boolean; ts: number; firmwareVersion: string }[] => {
        const list = ids.map((deviceId) => ({ deviceId, online: r % 2 === 0, ts: 1000 + r, firmwareVersion: `fw-${r}` }));
        return reverse ? list.reverse() : list;
      };
      const order = Array.from({ length: rounds + 1 }, (_, r) => r);
      await Promise.all([
        (async () => { for (const r of order) await a.applyPresence(batch(r, false)); })(),
        (async () => { for (const r of [...order].reverse()) await b.applyPresence(batch(r, true)); })(),
      ]);
      for (const id of ids) {
        expect(await a.get(id)).toMatchObject({ status: 'online', lastSeen: 1000 + rounds, firmwareVersion: `fw-${rounds}` });
      }
      // A late retained message from before cannot move anything back.
      expect(await b.applyPresence([{ deviceId: 'p00', online: false, ts: 1005 }])).toBe(1);
      expect(await a.get('p00')).toMatchObject({ status: 'online', lastSeen: 1000 + rounds });
    } finally { await dbB.close(); }
  });

  it('disabling on one cloud is what the other reads next (no cache in the store)', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    try {
      const a = await PgDeviceRepository.open({ db: dbA });
      const b = await PgDeviceRepository.open({ db: dbB });
      await a.create(dev('x', 's'));
      await b.setDisabled('x', true);
      expect((await a.getSecretHash('x'))?.device.status).toBe('disabled');
    } finally { await dbB.close(); }
  });

  it('the admin token: generated once by whichever cloud commits, rotated on one and refused by the other at its next start', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    try {
      const a = await PgDeviceRepository.open({ db: dbA });
      const b = await PgDeviceRepository.open({ db: dbB });
      const first = await ensureAdminToken(a);
      expect(first.generated).toBeDefined();
      await first.commit();
      const second = await ensureAdminToken(b);
      expect(second.generated).toBeUndefined();
      expect(tokenMatches(first.generated!, second.digest)).toBe(true);
      const rotated = await rotateAdminToken(a, undefined, 'test', 'test', first.digest);
      const again = await ensureAdminToken(b);
      expect(tokenMatches(rotated, again.digest)).toBe(true);
      expect(tokenMatches(first.generated!, again.digest)).toBe(false);
    } finally { await dbB.close(); }
  });

  it('two clouds starting for the first time at once: both generate, one token is stored, the other cloud adopts it and prints none', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    try {
      const a = await PgDeviceRepository.open({ db: dbA });
      const b = await PgDeviceRepository.open({ db: dbB });
      const [sa, sb] = await Promise.all([ensureAdminToken(a), ensureAdminToken(b)]);
      expect(sa.generated).toBeDefined();
      expect(sb.generated).toBeDefined();
      await Promise.all([sa.commit(), sb.commit()]);
      const printed = [sa.generated, sb.generated].filter((t): t is string => t !== undefined);
      expect(printed).toHaveLength(1);
      // Both clouds now check the one printed token, in memory.
      expect(tokenMatches(printed[0]!, sa.digest)).toBe(true);
      expect(tokenMatches(printed[0]!, sb.digest)).toBe(true);
      expect(tokenMatches(printed[0]!, Buffer.from((await a.getSetting('admin_token_sha256'))!, 'base64url'))).toBe(true);
    } finally { await dbB.close(); }
  });
});
