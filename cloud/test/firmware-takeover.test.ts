import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fromTransport } from '../src/firmware/index.js';
import { createMqttLink, type MqttLink } from '../src/mqtt-link.js';
import { PresenceListener } from '../src/presence-listener.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import type { PostgresDatabase } from '../src/db/postgres.js';
import { auth, image, makeKey, signImage, startFirmwareApp, TinyDevice, upload, type FirmwareApp } from './firmware-support.js';
import { silentLogger, startBroker, tempDir, waitFor, type TestBroker } from './helpers.js';
import { usePostgres } from './pg-support.js';
import { secondCloud } from './pg-two-clouds.js';

/** Two clouds on one PostgreSQL database, a real broker and MQTT devices: the campaign
 * runner runs on one cloud at a time, and the other takes over from the database. */
const pgs = usePostgres();
const key = makeKey('release');
const tmp = tempDir('yulan-fw-takeover-');
const PASSWORD = 'device-pass';
const N = 6;

interface Cloud { link: MqttLink; presence: PresenceListener; s: FirmwareApp; closed: boolean }
const clouds: Cloud[] = [];
const pools: PostgresDatabase[] = [];
let broker: TestBroker | undefined;
let devices: SqliteDeviceRepository | undefined;
const sims: TinyDevice[] = [];

async function openCloud(name: string, db: PostgresDatabase): Promise<Cloud> {
  const presence = new PresenceListener({ devices: devices!, logger: silentLogger, flushIntervalMs: 50 });
  const link = createMqttLink({ url: broker!.url, username: name, password: 'cloud-pass', logger: silentLogger, onPresence: (t, p) => presence.handle(t, p) });
  await waitFor(() => link.connected(), `${name} mqtt link`);
  // One shared data directory: the images and the download-token key are on storage both clouds mount.
  const s = await startFirmwareApp({ dataDir: join(tmp.dir, 'shared'), devices: devices!, keys: [key], mqtt: fromTransport(link), tickMs: 50, db: { kind: 'postgres', db } });
  const c = { link, presence, s, closed: false };
  clouds.push(c);
  return c;
}
async function closeCloud(c: Cloud): Promise<void> {
  if (c.closed) return;
  c.closed = true;
  await c.s.close();
  await c.link.close();
  await c.presence.close();
}

afterAll(async () => {
  for (const c of clouds) await closeCloud(c);
  for (const d of sims) await d.close();
  await broker?.close();
  await devices?.close();
  for (const p of pools) await p.close();
  tmp.cleanup();
});

describe.skipIf(pgs.skip)('firmware campaign runner with two clouds on one PostgreSQL database', () => {
  it('cloud B takes over a campaign cloud A stopped mid-stage: offers A sent are not sent again, results are counted once', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    pools.push(dbB);
    broker = await startBroker({ 'cloud-a': 'cloud-pass', 'cloud-b': 'cloud-pass', ...Object.fromEntries(Array.from({ length: N }, (_, i) => [`tk-${i}`, PASSWORD])) });
    devices = new SqliteDeviceRepository({ file: join(tmp.dir, 'registry.sqlite') });
    for (let i = 0; i < N; i++) {
      await devices.create({ id: `tk-${i}`, site: 'tk', kind: 'ev-charger', firmwareVersion: '1.0.0', secretHash: 'unused' });
      // At first no device acts on an update: the first stage's offers stay "sent" until A stops.
      const d = new TinyDevice(`tk-${i}`, 'tk', 'ev-charger', '1.0.0', [key], { ignoreUpdates: true });
      await d.start(broker.url, PASSWORD);
      sims.push(d);
    }
    const a = await openCloud('cloud-a', dbA);
    const b = await openCloud('cloud-b', dbB);
    const img = image(20_000, 5);
    const up = await upload(a.s.app, img, { version: '2.0.0', kind: 'ev-charger', key_id: key.id, signature: signImage(img, key) });
    expect(up.statusCode).toBe(201);
    const r = await a.s.app.inject({
      method: 'POST', url: '/api/v1/campaigns', headers: auth,
      payload: { firmwareId: up.json().id, target: { kind: 'ev-charger', sites: ['tk'] }, stages: [0.5, 1], spreadSec: 0, soakSec: 0.3, reportEverySec: 2,
        advanceAt: 0, abortAt: 1, updateTimeoutSec: 10, seed: 3 },
    });
    expect(r.statusCode).toBe(201);
    const id = r.json().id as string;
    // A runs it, B does not (it would send every offer a second time).
    expect(a.s.firmware.runner.liveCampaign(id)).toBeDefined();
    expect(b.s.firmware.runner.liveCampaign(id)).toBeUndefined();

    // Mid-stage: the first stage's offers were sent and acknowledged by the broker.
    const firstStage = await waitFor(async () => {
      const q = await dbA.query<{ device_id: string }>('stage 1', `SELECT device_id FROM firmware.rollouts
        WHERE campaign_id = $1 AND status = 'sent' AND published_offers = 1 AND (data->>'stage')::int = 0`, [id]);
      return q.rows.length === N / 2 ? q.rows.map((x) => x.device_id) : undefined;
    }, 'the first stage offered by cloud A', 30_000);
    await waitFor(() => sims.filter((d) => firstStage.includes(d.id)).every((d) => d.deliveries === 1), 'the first stage\'s devices got their offer');
    await closeCloud(a);
    await waitFor(() => b.s.firmware.runner.liveCampaign(id), 'cloud B to take the campaign over', 30_000);
    // From now on devices install what they are sent (the first stage got theirs from A, and ignored it).
    for (const d of sims) d.behaviour = {};

    const done = await waitFor(async () => {
      const v = (await b.s.app.inject({ url: `/api/v1/campaigns/${id}`, headers: auth })).json();
      return v.status !== 'running' ? v : undefined;
    }, 'campaign finished on cloud B', 60_000);
    expect(done).toMatchObject({ status: 'completed', devices: N, stage: 2 });
    // The first stage timed out (they ignored A's offer, and nobody sent it again); the second stage updated.
    expect(done.counts).toMatchObject({ failed: N / 2, succeeded: N / 2 });
    expect(done.failures.map((f: { deviceId: string }) => f.deviceId).sort()).toEqual([...firstStage].sort());
    // Exactly one firmware.update per device, across both clouds.
    expect(sims.map((d) => [d.id, d.deliveries])).toEqual(sims.map((d) => [d.id, 1]));
    expect(sims.filter((d) => !firstStage.includes(d.id)).every((d) => d.version === '2.0.0')).toBe(true);
  });
});
