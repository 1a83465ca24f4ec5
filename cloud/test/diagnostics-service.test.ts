import { createHash, randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../src/care/contracts.js';
import { DiagnosticsService } from '../src/ocpp/diagnostics-service.js';
import { SqliteDiagnosticsStore, type DiagnosticsStore } from '../src/ocpp/diagnostics-store.js';
import { PgDiagnosticsStore } from '../src/ocpp/pg-diagnostics-store.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import { silentLogger, tempDir } from './helpers.js';
import { usePostgres } from './pg-support.js';

/** The cloud's rules for a gateway's hand-over (docs/ocpp.md §4.2), each refusal counted,
 * retention by age, and every read through the API audited, on either store. */
const pgs = usePostgres();
const tmp = tempDir('diagnostics-service-');
afterAll(() => tmp.cleanup());
const DAY = 86_400_000;
let n = 0;

type StoreFactory = () => Promise<DiagnosticsStore>;
const sqliteStore: StoreFactory = async () => new SqliteDiagnosticsStore(path.join(tmp.dir, `s-${n++}`, 'd.sqlite'));
const stores: [string, StoreFactory][] = [['sqlite', sqliteStore]];
if (!pgs.skip) stores.push(['postgres', async () => PgDiagnosticsStore.open(await pgs.fresh())]);

async function service(retentionDays: number, clock: { now: number }, store: StoreFactory = sqliteStore, audit: AuditEntry[] = []): Promise<DiagnosticsService> {
  const devices = new SqliteDeviceRepository({ file: ':memory:' });
  await devices.create({ id: 'CP-1', site: 'xuhui', kind: 'ev-charger', secretHash: 'x' });
  await devices.create({ id: 'ENV-1', site: 'xuhui', kind: 'env-monitor', secretHash: 'x' });
  return new DiagnosticsService({ store: await store(), devices, audit: { record: async (e) => void audit.push(e) }, logger: silentLogger, maxBytes: 100, retentionDays, now: () => clock.now });
}
const by = { actor: 'user-7', purpose: 'fault 17' };
const meta = (deviceId: string, body: Buffer, commandId = 'c1') => ({
  deviceId, commandId, fileName: 'x.log', contentType: 'text/plain', uploadedAt: '2026-06-01T00:00:00.000Z', sha256: createHash('sha256').update(body).digest('hex'),
});

describe('diagnostics service', () => {
  it('refuses unknown devices, other kinds, oversize and a wrong sha256 with codes, and counts each', async () => {
    const s = await service(30, { now: Date.UTC(2026, 5, 1) });
    const b = Buffer.from('ok');
    await expect(s.receive(meta('NOPE', b), b)).rejects.toMatchObject({ statusCode: 404, code: 'E_NOT_FOUND' });
    await expect(s.receive(meta('ENV-1', b), b)).rejects.toMatchObject({ statusCode: 403, code: 'E_FORBIDDEN' });
    const big = Buffer.alloc(101);
    await expect(s.receive(meta('CP-1', big), big)).rejects.toMatchObject({ statusCode: 413 });
    await expect(s.receive({ ...meta('CP-1', b), sha256: 'a'.repeat(64) }, b)).rejects.toMatchObject({ statusCode: 400, code: 'E_VALIDATION' });
    expect((await s.receive(meta('CP-1', b), b)).created).toBe(true);
    // a sha256 in capitals is the same file
    expect((await s.receive({ ...meta('CP-1', b), sha256: meta('CP-1', b).sha256.toUpperCase() }, b)).created).toBe(false);
    expect(s.stats).toEqual({ received: 1, duplicates: 1, refusedUnknownDevice: 1, refusedNotCharger: 1, refusedDisabled: 0, refusedTooLarge: 1, refusedChecksum: 1, pruned: 0 });
    expect(await s.list('ENV-1', 10, by)).toEqual([]);
    await s.close();
  });

  it('a charger disabled after its upload: refused with E_DEVICE_DISABLED and counted, again on a repeat; accepted once enabled', async () => {
    const devices = new SqliteDeviceRepository({ file: ':memory:' });
    await devices.create({ id: 'CP-1', site: 'xuhui', kind: 'ev-charger', secretHash: 'x' });
    const s = new DiagnosticsService({ store: await sqliteStore(), devices, audit: { record: async () => undefined }, logger: silentLogger, maxBytes: 100, retentionDays: 30 });
    const b = Buffer.from('uploaded before the disable');
    await devices.setDisabled('CP-1', true);
    const disabled = { statusCode: 403, code: 'E_DEVICE_DISABLED', message: expect.stringContaining('disabled') };
    await expect(s.receive(meta('CP-1', b), b)).rejects.toMatchObject(disabled);
    // the same hand-over again (a gateway that did not take the answer as final): the same answer, counted again
    await expect(s.receive(meta('CP-1', b), b)).rejects.toMatchObject(disabled);
    expect(await s.list('CP-1', 10, by)).toEqual([]);
    // enabled again: the cloud decides by the charger's state now, so the same file is taken
    await devices.setDisabled('CP-1', false);
    const r = await s.receive(meta('CP-1', b), b);
    expect(r).toMatchObject({ created: true, record: { deviceId: 'CP-1', bytes: b.length } });
    expect(s.stats).toMatchObject({ received: 1, refusedDisabled: 2 });
    await s.close();
  });

  it('prunes files older than the retention; 0 keeps everything', async () => {
    const clock = { now: Date.UTC(2026, 5, 1) };
    const s = await service(30, clock);
    const keep = await service(0, clock);
    const b = Buffer.from('old');
    await s.receive(meta('CP-1', b), b);
    await keep.receive(meta('CP-1', b), b);
    clock.now += 30 * DAY;
    expect(await s.prune()).toBe(0);
    clock.now += 1;
    expect(await s.prune()).toBe(1);
    expect(await keep.prune()).toBe(0);
    expect(await s.list('CP-1', 10, by)).toEqual([]);
    expect(await keep.list('CP-1', 10, by)).toHaveLength(1);
    expect(s.stats.pruned).toBe(1);
    await s.close();
    await keep.close();
  });
});

describe.each(stores)('diagnostics reads are audited (%s store)', (_name, store) => {
  it('a listing and a download each write one row naming the actor, the device and the purpose before anything leaves', async () => {
    const audit: AuditEntry[] = [];
    const s = await service(30, { now: Date.UTC(2026, 5, 1) }, store, audit);
    const b = Buffer.from('log');
    const { record } = await s.receive(meta('CP-1', b), b);
    expect(audit).toEqual([]); // a hand-over is not a read
    expect(await s.list('CP-1', 10, by)).toEqual([record]);
    const got = await s.download('CP-1', record.id, by);
    expect(got.body.equals(b)).toBe(true);
    // an empty listing is a look too
    expect(await s.list('ENV-1', 10, { actor: 'admin-token', purpose: 'device operations' })).toEqual([]);
    expect(audit).toEqual([
      { actor: 'user-7', action: 'device.diagnostics.list', residentId: null, purpose: 'fault 17', detail: 'CP-1 (1 listed)' },
      { actor: 'user-7', action: 'device.diagnostics.download', residentId: null, purpose: 'fault 17', detail: `CP-1 x.log (${record.id}, 3 bytes)` },
      { actor: 'admin-token', action: 'device.diagnostics.list', residentId: null, purpose: 'device operations', detail: 'ENV-1 (0 listed)' },
    ]);
    // nothing read, nothing audited: an unknown device, an unknown file
    await expect(s.list('NOPE', 10, by)).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    await expect(s.download('CP-1', randomUUID(), by)).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    expect(audit).toHaveLength(3);
    await s.close();
  });

  it('a read whose audit row cannot be written fails instead of leaving unaudited', async () => {
    const devices = new SqliteDeviceRepository({ file: ':memory:' });
    await devices.create({ id: 'CP-1', site: 'xuhui', kind: 'ev-charger', secretHash: 'x' });
    const s = new DiagnosticsService({ store: await store(), devices, audit: { record: async () => { throw new Error('audit log unavailable'); } },
      logger: silentLogger, maxBytes: 100, retentionDays: 30 });
    const b = Buffer.from('log');
    const { record } = await s.receive(meta('CP-1', b), b);
    await expect(s.list('CP-1', 10, by)).rejects.toThrow('audit log unavailable');
    await expect(s.download('CP-1', record.id, by)).rejects.toThrow('audit log unavailable');
    await s.close();
  });
});
