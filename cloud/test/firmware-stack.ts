import { join } from 'node:path';
import { expect } from 'vitest';
import { fromTransport } from '../src/firmware/index.js';
import { createMqttLink, type MqttLink } from '../src/mqtt-link.js';
import { PresenceListener } from '../src/presence-listener.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import { auth, image, makeKey, signImage, startFirmwareApp, TinyDevice, upload, type FirmwareApp, type SimBehaviour } from './firmware-support.js';
import { silentLogger, startBroker, tempDir, waitFor, type TestBroker } from './helpers.js';

/** A running stack for end-to-end campaign tests: real Aedes broker, the cloud's real MQTT
 * link and presence listener, real HTTP downloads, TinyDevices running the device-side
 * firmware handler and sending telemetry. */
export interface SiteSpec { n: number; behaviour?: SimBehaviour; version?: string; /** registered but not connected at start */ offline?: boolean }

interface Reply { statusCode: number; json(): any }

export interface Stack {
  broker: TestBroker;
  devices: SqliteDeviceRepository;
  sims: TinyDevice[];
  site(name: string): TinyDevice[];
  s: FirmwareApp;
  uploadVersion(version: string): Promise<string>;
  create(body: Record<string, unknown>): Promise<Reply>;
  view(id: string): Promise<Record<string, any>>;
  rollouts(id: string, query?: string): Promise<{ total: number; items: Record<string, any>[] }>;
  until(id: string, what: string, ok: (v: Record<string, any>) => boolean, ms?: number): Promise<Record<string, any>>;
  post(path: string): Promise<Reply>;
  close(): Promise<void>;
}

const PASSWORD = 'device-pass';
const key = makeKey('release');

export async function startStack(sites: Record<string, SiteSpec>, defaults: Record<string, unknown>): Promise<Stack> {
  const tmp = tempDir('yulan-fw-stack-');
  const users: Record<string, string> = { cloud: 'cloud-pass' };
  for (const [site, spec] of Object.entries(sites)) for (let i = 0; i < spec.n; i++) users[`${site}-${i}`] = PASSWORD;
  const broker = await startBroker(users);
  const devices = new SqliteDeviceRepository({ file: join(tmp.dir, 'registry.sqlite') });
  const sims: TinyDevice[] = [];
  for (const [site, spec] of Object.entries(sites)) {
    for (let i = 0; i < spec.n; i++) {
      const id = `${site}-${i}`;
      await devices.create({ id, site, kind: 'ev-charger', firmwareVersion: spec.version ?? '1.0.0', secretHash: 'unused' });
      const d = new TinyDevice(id, site, 'ev-charger', spec.version ?? '1.0.0', [key], spec.behaviour ?? {}, 200);
      d.connectTo(broker.url, PASSWORD);
      if (!spec.offline) await d.restart();
      sims.push(d);
    }
  }
  const presence = new PresenceListener({ devices, logger: silentLogger, flushIntervalMs: 50 });
  const link: MqttLink = createMqttLink({ url: broker.url, username: 'cloud', password: 'cloud-pass', logger: silentLogger, onPresence: (t, p) => presence.handle(t, p) });
  await waitFor(() => link.connected(), 'cloud mqtt link');
  // Registry statuses settle (online devices' births) before campaigns read them.
  await waitFor(async () => {
    for (const d of sims) if (((await devices.get(d.id))?.status === 'online') !== d.online) return false;
    return true;
  }, 'registry presence');
  const s = await startFirmwareApp({ dataDir: join(tmp.dir, 'cloud'), devices, keys: [key], mqtt: fromTransport(link), tickMs: 50 });
  const view = async (id: string) => (await s.app.inject({ url: `/api/v1/campaigns/${id}`, headers: auth })).json() as Record<string, any>;
  return {
    broker, devices, sims, s,
    site: (name) => sims.filter((d) => d.site === name),
    async uploadVersion(version) {
      const img = image(20_000, version.length + version.charCodeAt(2));
      const r = await upload(s.app, img, { version, kind: 'ev-charger', key_id: key.id, signature: signImage(img, key) });
      expect(r.statusCode).toBe(201);
      return r.json().id as string;
    },
    create: (body) => s.app.inject({ method: 'POST', url: '/api/v1/campaigns', headers: auth, payload: { ...defaults, ...body } }),
    view,
    rollouts: async (id, query = '') => (await s.app.inject({ url: `/api/v1/campaigns/${id}/devices${query}`, headers: auth })).json(),
    until: (id, what, ok, ms = 45_000) => waitFor(async () => { const v = await view(id); return ok(v) ? v : undefined; }, what, ms),
    post: (path) => s.app.inject({ method: 'POST', url: `/api/v1${path}`, headers: auth }),
    async close() {
      await s.close();
      await link.close();
      await presence.close();
      for (const d of sims) await d.close();
      await broker.close();
      await devices.close();
      tmp.cleanup();
    },
  };
}
