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

    it('answers ping while open', async () => {
      expect(await repo.ping()).toBe(true);
    });
  });
}
