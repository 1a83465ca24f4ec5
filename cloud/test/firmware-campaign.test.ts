import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromTransport } from '../src/firmware/index.js';
import { createMqttLink, type MqttLink } from '../src/mqtt-link.js';
import { PresenceListener } from '../src/presence-listener.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import { auth, image, makeKey, signImage, startFirmwareApp, TinyDevice, upload, type FirmwareApp, type SimBehaviour } from './firmware-support.js';
import { silentLogger, startBroker, tempDir, waitFor, type TestBroker } from './helpers.js';

/** End to end: real Aedes broker, the cloud's real MQTT link and presence listener, real
 * HTTP downloads, and MQTT devices running the device-side firmware handler. */
const key = makeKey('release');
const tmp = tempDir('yulan-fw-campaign-');
const PASSWORD = 'device-pass';
const SITES: Record<string, { n: number; behaviour: SimBehaviour; version?: string; noOta?: number }> = {
  adv: { n: 20, behaviour: {} },
  boot: { n: 8, behaviour: { bootFails: true } },
  gate: { n: 8, behaviour: { faultAfterInstall: true } },
  dur: { n: 12, behaviour: {} },
  newer: { n: 2, behaviour: {}, version: '3.0.0' },
  // the first `noOta` devices are registered with firmwareUpdates "none" (behind a serial gateway)
  mixed: { n: 3, behaviour: {}, noOta: 1 },
  bench: { n: 2, behaviour: {}, noOta: 2 },
};
let broker: TestBroker;
let devices: SqliteDeviceRepository;
const sims: TinyDevice[] = [];
let link: MqttLink;
let presence: PresenceListener;
let s: FirmwareApp;
let fwId = '';

async function openCloud(): Promise<void> {
  presence = new PresenceListener({ devices, logger: silentLogger, flushIntervalMs: 50 });
  const listener = presence;
  link = createMqttLink({ url: broker.url, username: 'cloud', password: 'cloud-pass', logger: silentLogger, onPresence: (t, p) => listener.handle(t, p) });
  await waitFor(() => link.connected(), 'cloud mqtt link');
  s = await startFirmwareApp({ dataDir: join(tmp.dir, 'cloud'), devices, keys: [key], mqtt: fromTransport(link), tickMs: 50 });
}
async function closeCloud(): Promise<void> {
  await s.close();
  await link.close();
  await presence.close();
}

beforeAll(async () => {
  const users: Record<string, string> = { cloud: 'cloud-pass' };
  for (const [site, spec] of Object.entries(SITES)) for (let i = 0; i < spec.n; i++) users[`${site}-${i}`] = PASSWORD;
  broker = await startBroker(users);
  devices = new SqliteDeviceRepository({ file: join(tmp.dir, 'registry.sqlite') });
  for (const [site, spec] of Object.entries(SITES)) {
    for (let i = 0; i < spec.n; i++) {
      const id = `${site}-${i}`;
      await devices.create({ id, site, kind: 'ev-charger', firmwareVersion: spec.version ?? '1.0.0', secretHash: 'unused', ...(i < (spec.noOta ?? 0) ? { firmwareUpdates: 'none' } : {}) });
      const d = new TinyDevice(id, site, 'ev-charger', spec.version ?? '1.0.0', [key], spec.behaviour);
      await d.start(broker.url, PASSWORD);
      sims.push(d);
    }
  }
  await openCloud();
  const img = image(50_000, 3);
  const r = await upload(s.app, img, { version: '2.0.0', kind: 'ev-charger', key_id: key.id, signature: signImage(img, key) });
  expect(r.statusCode).toBe(201);
  fwId = r.json().id;
});
afterAll(async () => {
  await closeCloud();
  for (const d of sims) await d.close();
  await broker.close();
  await devices.close();
  tmp.cleanup();
});

const create = (body: Record<string, unknown>) =>
  s.app.inject({ method: 'POST', url: '/api/v1/campaigns', headers: auth, payload: { firmwareId: fwId, spreadSec: 0.2, soakSec: 0.3, reportEverySec: 2, seed: 11, ...body } });
const view = async (id: string) => (await s.app.inject({ url: `/api/v1/campaigns/${id}`, headers: auth })).json();
const until = (id: string, what: string, ok: (v: Awaited<ReturnType<typeof view>>) => boolean) =>
  waitFor(async () => { const v = await view(id); return ok(v) ? v : undefined; }, what, 45_000);

describe('firmware campaigns end to end', () => {
  it('advances through the stages to every device, which then runs the new version', async () => {
    const r = await create({ target: { kind: 'ev-charger', sites: ['adv'] }, stages: [0.05, 0.25, 1] });
    expect(r.statusCode).toBe(201);
    expect(r.json()).toMatchObject({ devices: 20, stage: 1, stages: 3, status: 'running' });
    const done = await until(r.json().id, 'campaign completed', (v) => v.status !== 'running');
    expect(done).toMatchObject({ status: 'completed', stage: 3, failures: [] });
    expect(done.counts.succeeded).toBe(20);
    expect(sims.filter((d) => d.site === 'adv').every((d) => d.version === '2.0.0')).toBe(true);
    await waitFor(async () => (await devices.get('adv-0'))?.firmwareVersion === '2.0.0', 'registry shows the new version');
  });

  it('aborts when the canary fails to boot the image and rolls back; the rest never start', async () => {
    const r = await create({ target: { kind: 'ev-charger', sites: ['boot'] }, stages: [0.1, 1] });
    const v = await until(r.json().id, 'campaign aborted', (x) => x.status !== 'running');
    expect(v.status).toBe('aborted');
    expect(v.failures).toHaveLength(1);
    expect(v.failures[0].reason).toMatch(/rolled back: new image failed to boot/);
    expect(v.counts.skipped).toBe(7);
    expect(sims.filter((d) => d.site === 'boot').every((d) => d.version === '1.0.0')).toBe(true);
    expect(sims.filter((d) => d.site === 'boot' && d.handled.size > 0)).toHaveLength(1);
  });

  it('the health gate fails a stage whose devices report faults while soaking', async () => {
    const r = await create({ target: { kind: 'ev-charger', sites: ['gate'] }, stages: [0.25, 1], soakSec: 5 });
    const v = await until(r.json().id, 'campaign aborted by the health gate', (x) => x.status !== 'running');
    expect(v.status).toBe('aborted');
    expect(v.failures.length).toBeGreaterThan(0);
    expect(v.failures[0].reason).toMatch(/health gate: 1 error event\(s\) during soak \(charger\.fault\)/);
    expect(v.stage).toBe(1);
  });

  it('refuses a downgrade unless allowDowngrade is set', async () => {
    const r = await create({ target: { kind: 'ev-charger', sites: ['newer'] } });
    expect(r.statusCode).toBe(400);
    expect(r.json().message).toMatch(/downgrade.*allowDowngrade/);
    const ok = await create({ target: { kind: 'ev-charger', sites: ['newer'] }, allowDowngrade: true });
    expect(ok.statusCode).toBe(201);
    const aborted = await s.app.inject({ method: 'POST', url: `/api/v1/campaigns/${ok.json().id}/abort`, headers: auth });
    expect(aborted.json().status).toBe('aborted');
    expect((await s.app.inject({ method: 'POST', url: `/api/v1/campaigns/${ok.json().id}/resume`, headers: auth })).statusCode).toBe(409);
  });

  it('leaves out devices that take no firmware over the air, and says so when none is left', async () => {
    const none = await create({ target: { kind: 'ev-charger', sites: ['bench'] } });
    expect(none.statusCode).toBe(400);
    expect(none.json().message).toMatch(/none of the 2 matching device\(s\) takes firmware over the air.*yulan flash/);
    const r = await create({ target: { kind: 'ev-charger', sites: ['mixed'] }, stages: [1] });
    expect(r.statusCode).toBe(201);
    expect(r.json()).toMatchObject({ devices: 2 });
    const done = await until(r.json().id, 'campaign completed', (v) => v.status !== 'running');
    expect(done).toMatchObject({ status: 'completed', failures: [] });
    expect(done.counts.succeeded).toBe(2);
    expect(sims.find((d) => d.id === 'mixed-0')?.version).toBe('1.0.0');
    expect((await devices.get('mixed-0'))?.firmwareUpdates).toBe('none');
  });

  it('survives a cloud restart: paused state and progress come back from SQLite, resume finishes it', async () => {
    const r = await create({ target: { kind: 'ev-charger', sites: ['dur'] }, stages: [0.25, 1] });
    const id = r.json().id;
    await until(id, 'canary succeeded', (v) => v.counts.succeeded >= 1);
    expect((await s.app.inject({ method: 'POST', url: `/api/v1/campaigns/${id}/pause`, headers: auth })).json().status).toBe('paused');
    const quiet = await until(id, 'nothing in flight', (v) => ['sent', 'downloading', 'verifying', 'installing', 'soaking'].every((k) => v.counts[k] === 0));
    await closeCloud();
    await openCloud();
    const after = await view(id);
    expect(after.status).toBe('paused');
    expect(after.counts).toEqual(quiet.counts);
    expect((await s.app.inject({ method: 'POST', url: `/api/v1/campaigns/${id}/resume`, headers: auth })).json().status).toBe('running');
    const done = await until(id, 'completed after restart', (v) => v.status !== 'running');
    expect(done.status).toBe('completed');
    expect(done.counts.succeeded).toBe(12);
  });
});
