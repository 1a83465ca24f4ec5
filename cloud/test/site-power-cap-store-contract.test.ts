import { afterAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { Channel, DeviceKind, Presence, deviceTopic } from '@yulan/protos';
import { SqliteSitePowerCapStore, type SitePowerCapStore } from '../src/ocpp/site-power-cap-store.js';
import { PgSitePowerCapStore } from '../src/ocpp/pg-site-power-cap-store.js';
import { SitePowerCaps } from '../src/ocpp/site-power-cap-service.js';
import { openLease } from '../src/db/lease.js';
import type { CommandService } from '../src/control/commands.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import type { PostgresDatabase } from '../src/db/postgres.js';
import { usePostgres } from './pg-support.js';
import { secondCloud } from './pg-two-clouds.js';
import { silentLogger, tempDir, waitFor } from './helpers.js';

const pgs = usePostgres();
const tmp = tempDir('site-power-caps-contract-');
const extra: PostgresDatabase[] = [];
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers) await c();
  await Promise.all(extra.map((d) => d.close()));
  tmp.cleanup();
});
let n = 0;

type Factory = () => Promise<SitePowerCapStore>;
const impls: [string, Factory][] = [['sqlite', async () => new SqliteSitePowerCapStore(path.join(tmp.dir, `caps-${n++}.sqlite`))]];
if (!pgs.skip) impls.push(['postgres', async () => PgSitePowerCapStore.open(await pgs.fresh())]);

const T = (s: number): string => new Date(Date.UTC(2026, 5, 1, 0, 0, s)).toISOString();

describe.each(impls)('site power cap store contract (%s)', (_name, open) => {
  it('sets and replaces a cap with an audit row each (the previous value named), lists every site', async () => {
    const s = await open();
    expect(await s.get('xuhui')).toBeUndefined();
    expect(await s.set('xuhui', 40_000, 'user:ada', T(0))).toEqual({ site: 'xuhui', capW: 40_000, generation: 0, updatedAt: T(0), updatedBy: 'user:ada', clearedAt: null });
    await s.set('pudong', 90_000, 'admin-token', T(1));
    expect(await s.set('xuhui', 30_000, 'user:bob', T(2))).toMatchObject({ capW: 30_000, updatedBy: 'user:bob', updatedAt: T(2) });
    expect((await s.all()).map((c) => [c.site, c.capW])).toEqual([['pudong', 90_000], ['xuhui', 30_000]]);
    expect(await s.auditOf('xuhui', 10)).toEqual([
      { at: T(2), actor: 'user:bob', action: 'set', detail: JSON.stringify({ capW: 30_000, previousW: 40_000 }) },
      { at: T(0), actor: 'user:ada', action: 'set', detail: JSON.stringify({ capW: 40_000, previousW: null }) },
    ]);
    expect(await s.auditOf('xuhui', 1)).toHaveLength(1);
    expect(await s.auditOf('nowhere', 10)).toEqual([]);
    await s.close();
  });

  it('numbers divisions per site, kept across a cap change; a site without a cap gets 0', async () => {
    const s = await open();
    await s.set('xuhui', 40_000, 'a', T(0));
    expect(await s.nextGeneration('xuhui')).toBe(1);
    expect(await s.nextGeneration('xuhui')).toBe(2);
    await s.set('xuhui', 20_000, 'a', T(1));
    expect(await s.nextGeneration('xuhui')).toBe(3);
    expect((await s.get('xuhui'))?.generation).toBe(3);
    expect(await s.nextGeneration('nowhere')).toBe(0);
    await expect(s.set('xuhui', 0, 'a', T(2))).rejects.toThrow();
    expect((await s.get('xuhui'))?.capW).toBe(20_000);
    await s.close();
  });

  it('removes a cap once (audited, the last value kept), a second removal finds none, setting again restores it', async () => {
    const s = await open();
    expect(await s.clear('xuhui', 'user:ada', T(0))).toBeUndefined();
    await s.set('xuhui', 40_000, 'user:ada', T(1));
    await s.nextGeneration('xuhui');
    expect(await s.clear('xuhui', 'user:bob', T(2))).toEqual({ site: 'xuhui', capW: 40_000, generation: 1, updatedAt: T(2), updatedBy: 'user:bob', clearedAt: T(2) });
    expect(await s.clear('xuhui', 'user:bob', T(3))).toBeUndefined();
    // still listed: the division clears the chargers' profiles from it; numbering goes on
    expect((await s.all()).map((c) => [c.site, c.clearedAt])).toEqual([['xuhui', T(2)]]);
    expect(await s.nextGeneration('xuhui')).toBe(2);
    expect(await s.set('xuhui', 20_000, 'user:cy', T(4))).toMatchObject({ capW: 20_000, clearedAt: null, generation: 2 });
    expect((await s.auditOf('xuhui', 10)).map((r) => [r.action, r.actor, JSON.parse(r.detail!)])).toEqual([
      ['set', 'user:cy', { capW: 20_000, previousW: null }],
      ['clear', 'user:bob', { previousW: 40_000 }],
      ['set', 'user:ada', { capW: 40_000, previousW: null }],
    ]);
    await s.close();
  });
});

const presence = (site: string, id: string, online: boolean): [string, Uint8Array] => [
  deviceTopic({ site, kind: DeviceKind.EV_CHARGER, deviceId: id }, Channel.Presence),
  Presence.encode({ deviceId: id, kind: DeviceKind.EV_CHARGER, online, tsMs: Date.now(), firmwareVersion: '1.0.0', reason: 'birth' }),
];

describe.skipIf(pgs.skip)('site power caps, two clouds on one database', () => {
  it('racing divisions get distinct numbers; racing cap changes each audit the value they replaced', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    extra.push(dbB);
    const [a, b] = [await PgSitePowerCapStore.open(dbA), await PgSitePowerCapStore.open(dbB)];
    await a.set('xuhui', 1000, 'a', T(0));
    const gens = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).nextGeneration('xuhui')));
    expect([...gens].sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    await Promise.all([2000, 3000, 4000, 5000].map((w, i) => (i % 2 ? a : b).set('xuhui', w, `c${i}`, T(i + 1))));
    const chain = (await b.auditOf('xuhui', 10)).reverse().map((r) => JSON.parse(r.detail!) as { capW: number; previousW: number | null });
    // each change replaced the one before it: a chain, nothing lost
    for (let i = 1; i < chain.length; i++) expect(chain[i]!.previousW).toBe(chain[i - 1]!.capW);
    expect((await a.get('xuhui'))?.capW).toBe(chain[chain.length - 1]!.capW);
    // two clouds removing it at once: one removal, one audit row
    const cleared = await Promise.all([a.clear('xuhui', 'ca', T(10)), b.clear('xuhui', 'cb', T(10))]);
    expect(cleared.filter(Boolean)).toHaveLength(1);
    expect((await a.auditOf('xuhui', 20)).filter((r) => r.action === 'clear')).toHaveLength(1);
  });

  it('one cloud divides (the lease); a cap set on the other reaches the chargers; the other takes over with higher division numbers', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    extra.push(dbB);
    const devices = new SqliteDeviceRepository({ file: ':memory:' });
    for (const id of ['ch-1', 'ch-2']) await devices.create({ id, site: 'xuhui', kind: 'ev-charger', secretHash: 'x' });
    const sent: { cloud: string; deviceId: string; limitW: number; generation: number }[] = [];
    const commands = (cloud: string): CommandService => ({
      create: async (deviceId: string, input: { args: Record<string, unknown> }) => {
        sent.push({ cloud, deviceId, limitW: Number(input.args.limit_w), generation: Number(input.args.generation) });
        return { row: { id: `${cloud}-${sent.length}` }, created: true };
      },
      get: async () => ({ status: 'succeeded' }),
    }) as unknown as CommandService;
    const service = async (db: PostgresDatabase, cloud: string): Promise<SitePowerCaps> => {
      const s = new SitePowerCaps({ store: await PgSitePowerCapStore.open(db), devices, commands: commands(cloud), logger: silentLogger,
        lease: openLease({ kind: 'postgres', db }, 'site-power-caps', { logger: silentLogger, ttlMs: 3000 }), settleMs: 20, pollMs: 100 });
      closers.push(() => s.close());
      return s;
    };
    const a = await service(dbA, 'a');
    await a.start();
    const b = await service(dbB, 'b');
    await b.start();
    for (const s of [a, b]) for (const id of ['ch-1', 'ch-2']) s.handle(...presence('xuhui', id, true));
    // set on b, which does not hold the lease: a's poll divides it
    const view = await b.set('xuhui', 22_000, 'user:ada');
    expect(view.capW).toBe(22_000);
    await waitFor(() => sent.filter((x) => x.cloud === 'a').length >= 2, 'a sent both shares');
    expect(sent.filter((x) => x.cloud === 'a').map((x) => [x.deviceId, x.limitW]).sort()).toEqual([['ch-1', 11_000], ['ch-2', 11_000]]);
    // b never held the lease, so it sent nothing (not a matter of time)
    expect(sent.filter((x) => x.cloud === 'b')).toEqual([]);
    const aTop = Math.max(...sent.map((x) => x.generation));
    await a.close();
    await waitFor(() => sent.filter((x) => x.cloud === 'b').length >= 2, 'b took over and divided', 30_000);
    const fromB = sent.filter((x) => x.cloud === 'b');
    expect(fromB.map((x) => x.limitW)).toEqual([11_000, 11_000]);
    for (const x of fromB) expect(x.generation).toBeGreaterThan(aTop);
    // b, now the holder, re-divides on presence at once
    b.handle(...presence('xuhui', 'ch-2', false));
    await waitFor(() => sent.find((x) => x.cloud === 'b' && x.deviceId === 'ch-1' && x.limitW === 22_000), 'ch-1 given the whole cap');
    await devices.close();
  }, 60_000);
});
