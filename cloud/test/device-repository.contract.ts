import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeviceRepository, NewDevice } from '../src/repositories/device-repository.js';
import { CloudErrorCode } from '../src/errors.js';

/**
 * Behaviour every DeviceRepository must have. Run it against each implementation:
 *   runDeviceRepositoryContract('sqlite', () => new SqliteDeviceRepository({ file: ':memory:' }))
 * The factory must return an empty repository.
 */
export function runDeviceRepositoryContract(name: string, factory: () => Promise<DeviceRepository> | DeviceRepository): void {
  describe(`DeviceRepository contract: ${name}`, () => {
    let repo: DeviceRepository;
    beforeEach(async () => {
      repo = await factory();
    });
    afterEach(async () => {
      await repo.close();
    });

    const dev = (id: string, over: Partial<NewDevice> = {}): NewDevice => ({
      id,
      site: 'site-a',
      kind: 'ev-charger',
      secretHash: `hash-of-${id}`,
      ...over,
    });

    it('creates a device that starts offline, never seen, and reads it back', async () => {
      const created = await repo.create(dev('c1', { name: 'Charger 1', firmwareVersion: '1.2.3' }));
      expect(created).toMatchObject({ id: 'c1', site: 'site-a', kind: 'ev-charger', name: 'Charger 1', firmwareVersion: '1.2.3', status: 'offline', lastSeen: null });
      expect(typeof created.createdAt).toBe('number');
      expect(await repo.get('c1')).toEqual(created);
      expect(await repo.get('nope')).toBeUndefined();
    });

    it('stores optional fields as null', async () => {
      const created = await repo.create(dev('c2'));
      expect(created.name).toBeNull();
      expect(created.firmwareVersion).toBeNull();
    });

    it('rejects a duplicate id with E_DUPLICATE and keeps the original', async () => {
      await repo.create(dev('dup', { site: 'first' }));
      await expect(repo.create(dev('dup', { site: 'second' }))).rejects.toMatchObject({ code: CloudErrorCode.Duplicate });
      expect((await repo.get('dup'))?.site).toBe('first');
    });

    it('returns the secret hash only through getSecretHash', async () => {
      await repo.create(dev('s1', { secretHash: 'scrypt$x' }));
      const got = await repo.getSecretHash('s1');
      expect(got?.secretHash).toBe('scrypt$x');
      expect(got?.device.id).toBe('s1');
      expect(JSON.stringify(await repo.get('s1'))).not.toContain('scrypt$x');
      expect(await repo.getSecretHash('unknown')).toBeUndefined();
    });

    it('lists with filters, stable order and pagination with a total', async () => {
      const ids = ['b2', 'a1', 'c3', 'a2', 'b1'];
      for (const id of ids) {
        await repo.create(dev(id, { site: id.startsWith('a') ? 'north' : 'south', kind: id.endsWith('1') ? 'env-monitor' : 'fall-sensor' }));
      }
      const all = await repo.list({ limit: 100, offset: 0 });
      expect(all.total).toBe(5);
      expect(all.items.map((d) => `${d.site}/${d.kind}/${d.id}`)).toEqual(
        all.items.map((d) => `${d.site}/${d.kind}/${d.id}`).slice().sort(),
      );
      const north = await repo.list({ site: 'north', limit: 100, offset: 0 });
      expect(north.items.map((d) => d.id).sort()).toEqual(['a1', 'a2']);
      const env = await repo.list({ kind: 'env-monitor', limit: 100, offset: 0 });
      expect(env.items.map((d) => d.id).sort()).toEqual(['a1', 'b1']);
      const page1 = await repo.list({ limit: 2, offset: 0 });
      const page2 = await repo.list({ limit: 2, offset: 2 });
      const page3 = await repo.list({ limit: 2, offset: 4 });
      expect([page1.total, page2.total, page3.total]).toEqual([5, 5, 5]);
      expect([...page1.items, ...page2.items, ...page3.items].map((d) => d.id)).toEqual(all.items.map((d) => d.id));
      expect(page3.items).toHaveLength(1);
    });

    it('disables and re-enables; disabled wins over online in status and filters', async () => {
      await repo.create(dev('d1'));
      await repo.create(dev('d2'));
      await repo.applyPresence([{ deviceId: 'd1', online: true, ts: 1000 }, { deviceId: 'd2', online: true, ts: 1000 }]);
      expect((await repo.setDisabled('d1', true))?.status).toBe('disabled');
      expect((await repo.list({ status: 'disabled', limit: 10, offset: 0 })).items.map((d) => d.id)).toEqual(['d1']);
      expect((await repo.list({ status: 'online', limit: 10, offset: 0 })).items.map((d) => d.id)).toEqual(['d2']);
      expect((await repo.setDisabled('d1', false))?.status).toBe('online');
      expect(await repo.setDisabled('missing', true)).toBeUndefined();
    });

    it('applies presence batches: online state, lastSeen, firmware; ignores unknown ids', async () => {
      await repo.create(dev('p1', { firmwareVersion: '1.0.0' }));
      const matched = await repo.applyPresence([
        { deviceId: 'p1', online: true, ts: 5000, firmwareVersion: '1.1.0' },
        { deviceId: 'ghost', online: true, ts: 5000 },
      ]);
      expect(matched).toBe(1);
      expect(await repo.get('p1')).toMatchObject({ status: 'online', lastSeen: 5000, firmwareVersion: '1.1.0' });
      expect(await repo.get('ghost')).toBeUndefined();
      // Offline without a version leaves the stored version alone.
      await repo.applyPresence([{ deviceId: 'p1', online: false, ts: 6000 }]);
      expect(await repo.get('p1')).toMatchObject({ status: 'offline', lastSeen: 6000, firmwareVersion: '1.1.0' });
      expect(await repo.applyPresence([])).toBe(0);
    });

    it('does not let an older presence override a newer one or move lastSeen back', async () => {
      await repo.create(dev('o1'));
      await repo.applyPresence([{ deviceId: 'o1', online: false, ts: 9000 }]);
      await repo.applyPresence([{ deviceId: 'o1', online: true, ts: 8000, firmwareVersion: 'old' }]);
      expect(await repo.get('o1')).toMatchObject({ status: 'offline', lastSeen: 9000, firmwareVersion: null });
    });

    it('stores settings by key and overwrites them', async () => {
      expect(await repo.getSetting('k')).toBeUndefined();
      await repo.setSetting('k', 'v1');
      await repo.setSetting('k', 'v2');
      expect(await repo.getSetting('k')).toBe('v2');
    });

    it('stores a setting only when absent, and answers the value that is stored', async () => {
      expect(await repo.setSettingIfAbsent('once', 'first')).toBe('first');
      expect(await repo.setSettingIfAbsent('once', 'second')).toBe('first');
      expect(await repo.getSetting('once')).toBe('first');
    });

    it('stores sites with coordinates and zh/en names, lists them by id, refuses a duplicate', async () => {
      const xuhui = { id: 'xuhui', nameZh: '徐汇', nameEn: 'Xuhui', lat: 31.1885, lon: 121.4365 };
      const created = await repo.createSite(xuhui);
      expect(created).toMatchObject(xuhui);
      expect(typeof created.createdAt).toBe('number');
      await repo.createSite({ id: 'pudong', nameZh: '浦东', nameEn: 'Pudong', lat: 31.2215, lon: 121.5446 });
      expect((await repo.listSites()).map((s) => s.id)).toEqual(['pudong', 'xuhui']);
      expect(await repo.getSite('xuhui')).toEqual(created);
      expect(await repo.getSite('nowhere')).toBeUndefined();
      await expect(repo.createSite({ ...xuhui, nameEn: 'Other' })).rejects.toMatchObject({ code: CloudErrorCode.Duplicate });
      expect((await repo.getSite('xuhui'))?.nameEn).toBe('Xuhui');
    });

    it('fleet: filters, literal wildcards in the text search, sorts with never-seen devices, stable pages', async () => {
      await repo.create(dev('env-1', { site: 'north', kind: 'env-monitor', name: '100%_sure', firmwareVersion: '1.1.0' }));
      await repo.create(dev('env-2', { site: 'north', kind: 'env-monitor', name: 'Plain', firmwareVersion: '1.0.0' }));
      await repo.create(dev('Fall-3', { site: 'south', kind: 'fall-sensor', name: null }));
      await repo.create(dev('fall-4', { site: 'south', kind: 'fall-sensor', name: 'kitchen' }));
      await repo.applyPresence([{ deviceId: 'env-1', online: true, ts: 3000 }, { deviceId: 'env-2', online: true, ts: 1000 }, { deviceId: 'fall-4', online: false, ts: 2000 }]);
      await repo.setDisabled('env-2', true);
      const q = { sort: 'id' as const, order: 'asc' as const, limit: 50, offset: 0 };
      const ids = async (over: Partial<Parameters<DeviceRepository['fleet']>[0]>): Promise<string[]> => (await repo.fleet({ ...q, ...over })).items.map((d) => d.id);
      expect(await ids({})).toEqual(['Fall-3', 'env-1', 'env-2', 'fall-4']); // byte order, as SQLite sorts
      expect(await ids({ text: '%_' })).toEqual(['env-1']);
      expect(await ids({ text: '%' })).toEqual(['env-1']);
      expect(await ids({ text: 'FALL' })).toEqual(['Fall-3', 'fall-4']);
      expect(await ids({ text: 'KITCH' })).toEqual(['fall-4']);
      expect(await ids({ status: 'online' })).toEqual(['env-1']);
      expect(await ids({ status: 'disabled' })).toEqual(['env-2']);
      expect(await ids({ status: 'offline' })).toEqual(['Fall-3', 'fall-4']);
      expect(await ids({ firmware: '1.1.0', site: 'north', kind: 'env-monitor' })).toEqual(['env-1']);
      expect(await ids({ ids: ['fall-4', 'env-1', 'ghost'] })).toEqual(['env-1', 'fall-4']);
      expect(await ids({ ids: [] })).toEqual([]);
      // Never seen sorts first ascending and last descending.
      expect(await ids({ sort: 'lastSeen' })).toEqual(['Fall-3', 'env-2', 'fall-4', 'env-1']);
      expect(await ids({ sort: 'lastSeen', order: 'desc' })).toEqual(['env-1', 'fall-4', 'env-2', 'Fall-3']);
      expect(await ids({ sort: 'status' })).toEqual(['Fall-3', 'fall-4', 'env-1', 'env-2']);
      const p1 = await repo.fleet({ ...q, sort: 'site', limit: 3 });
      const p2 = await repo.fleet({ ...q, sort: 'site', limit: 3, offset: 3 });
      expect([p1.total, p2.total]).toEqual([4, 4]);
      expect([...p1.items, ...p2.items].map((d) => d.id)).toEqual(['env-1', 'env-2', 'Fall-3', 'fall-4']);
    });

    it('fleet counts by site and kind, faulted among enabled ids, and the last hour', async () => {
      await repo.create(dev('a', { site: 's1', kind: 'env-monitor' }));
      await repo.create(dev('b', { site: 's1', kind: 'env-monitor' }));
      await repo.create(dev('c', { site: 's2', kind: 'fall-sensor' }));
      const now = Date.now();
      await repo.applyPresence([{ deviceId: 'a', online: true, ts: now }, { deviceId: 'c', online: false, ts: now }]);
      await repo.setDisabled('b', true);
      const counts = await repo.fleetCounts(['a', 'b', 'ghost']);
      expect(counts.bySiteKind).toEqual([
        { site: 's1', kind: 'env-monitor', online: 1, offline: 0, disabled: 1, faulted: 1, total: 2 },
        { site: 's2', kind: 'fall-sensor', online: 0, offline: 1, disabled: 0, faulted: 0, total: 1 },
      ]);
      expect(counts.lastHour).toEqual({ wentOnline: 1, wentOffline: 1, registered: 3 });
      expect((await repo.fleetCounts()).bySiteKind.every((r) => r.faulted === 0)).toBe(true);
    });

    it('rotates a secret hash; unknown ids are undefined', async () => {
      await repo.create(dev('r1', { secretHash: 'old' }));
      expect((await repo.setSecretHash('r1', 'new'))?.id).toBe('r1');
      expect((await repo.getSecretHash('r1'))?.secretHash).toBe('new');
      expect(await repo.setSecretHash('nope', 'x')).toBeUndefined();
    });

    it('applies a batch naming one device several times as if in order', async () => {
      await repo.create(dev('m1'));
      const n = await repo.applyPresence([
        { deviceId: 'm1', online: true, ts: 100, firmwareVersion: '2.0.0' },
        { deviceId: 'm1', online: false, ts: 300 },
        { deviceId: 'm1', online: true, ts: 200, firmwareVersion: 'stale' },
      ]);
      expect(n).toBe(3);
      expect(await repo.get('m1')).toMatchObject({ status: 'offline', lastSeen: 300, firmwareVersion: '2.0.0' });
    });

    it('answers ping while open', async () => {
      expect(await repo.ping()).toBe(true);
    });
  });
}
