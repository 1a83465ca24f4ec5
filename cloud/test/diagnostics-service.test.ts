import { createHash } from 'node:crypto';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DiagnosticsService } from '../src/ocpp/diagnostics-service.js';
import { SqliteDiagnosticsStore } from '../src/ocpp/diagnostics-store.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import { silentLogger, tempDir } from './helpers.js';

/** The cloud's rules for a gateway's hand-over (docs/ocpp.md §4.2), each refusal counted,
 * and retention by age. */
const tmp = tempDir('diagnostics-service-');
afterAll(() => tmp.cleanup());
const DAY = 86_400_000;
let n = 0;

async function service(retentionDays: number, clock: { now: number }): Promise<DiagnosticsService> {
  const devices = new SqliteDeviceRepository({ file: ':memory:' });
  await devices.create({ id: 'CP-1', site: 'xuhui', kind: 'ev-charger', secretHash: 'x' });
  await devices.create({ id: 'ENV-1', site: 'xuhui', kind: 'env-monitor', secretHash: 'x' });
  return new DiagnosticsService({ store: new SqliteDiagnosticsStore(path.join(tmp.dir, `s-${n++}`, 'd.sqlite')), devices, logger: silentLogger, maxBytes: 100, retentionDays, now: () => clock.now });
}
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
    expect(s.stats).toEqual({ received: 1, duplicates: 1, refusedUnknownDevice: 1, refusedNotCharger: 1, refusedTooLarge: 1, refusedChecksum: 1, pruned: 0 });
    expect(await s.list('ENV-1', 10)).toEqual([]);
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
    expect(await s.list('CP-1', 10)).toEqual([]);
    expect(await keep.list('CP-1', 10)).toHaveLength(1);
    expect(s.stats.pruned).toBe(1);
    await s.close();
    await keep.close();
  });
});
