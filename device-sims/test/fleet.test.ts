import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Channel, Event, Telemetry, channelFilter, parseDeviceTopic } from '@yulan/protos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimErrorCode, fleetDeviceSpecs, runFleet, type FleetOptions, type SimError } from '../src/index.js';
import { logger, startBroker, subscriber, until, type TestBroker } from './support.js';

const TOKEN = 'admin-token-for-tests';

/** Stub of the cloud's registration endpoint: issues a secret once, 409 afterwards. */
function startCloud(): Promise<{ url: string; server: Server; registry: Map<string, { site: string; kind: string; secret: string }>; calls: number[] }> {
  const registry = new Map<string, { site: string; kind: string; secret: string }>();
  const calls: number[] = [];
  const read = async (req: IncomingMessage): Promise<string> => {
    let body = '';
    for await (const chunk of req) body += String(chunk);
    return body;
  };
  const server = createServer((req, res) => {
    void (async () => {
      const reply = (status: number, body: unknown): void => {
        calls.push(status);
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      };
      if (req.method !== 'POST' || req.url !== '/api/v1/devices') return reply(404, { error: 'not found' });
      if (req.headers.authorization !== `Bearer ${TOKEN}`) return reply(401, { error: 'unauthorized' });
      const body = JSON.parse(await read(req)) as { id: string; site: string; kind: string; firmwareVersion: string };
      if (!body.id || !body.site || !['ev-charger', 'parcel-locker', 'fall-sensor', 'env-monitor'].includes(body.kind) || !body.firmwareVersion) {
        return reply(400, { error: 'bad body' });
      }
      if (registry.has(body.id)) return reply(409, { error: 'exists' });
      const secret = `secret-${body.id}-${registry.size}`;
      registry.set(body.id, { site: body.site, kind: body.kind, secret });
      return reply(201, { device: { id: body.id, site: body.site, kind: body.kind }, secret });
    })();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, registry, calls });
  }));
}

describe('fleet runner', () => {
  let broker: TestBroker;
  let cloud: Awaited<ReturnType<typeof startCloud>>;
  let dir: string;
  beforeAll(async () => {
    cloud = await startCloud();
    // The broker accepts exactly the secrets the cloud issued (what the real broker asks the cloud).
    broker = await startBroker((u, p) => u === 'test' || cloud.registry.get(u)?.secret === p);
    dir = await mkdtemp(join(tmpdir(), 'yulan-sims-'));
  });
  afterAll(async () => {
    await broker.close();
    await new Promise((r) => cloud.server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  const base = (over: Partial<FleetOptions> = {}): FleetOptions => ({
    kinds: ['ev-charger', 'parcel-locker', 'fall-sensor', 'env-monitor'], countPerKind: 3, sites: ['north', 'south'],
    ratePerDevice: 5, qos: 1, mqttUrl: broker.url, seed: 42, connectConcurrency: 4, ...over,
  });

  it('derives deterministic ids spread over the sites', () => {
    const specs = fleetDeviceSpecs(['ev-charger', 'env-monitor'], 3, ['a', 'b']);
    expect(specs.map((s) => s.id)).toEqual(['ev-a-0001', 'ev-b-0001', 'ev-a-0002', 'env-a-0001', 'env-b-0001', 'env-a-0002']);
    expect(specs.map((s) => s.site)).toEqual(['a', 'b', 'a', 'a', 'b', 'a']);
  });

  it('registers devices (201), stores secrets 0600, publishes, and on restart reuses them (409)', async () => {
    const credentialsFile = join(dir, 'creds.json');
    const sub = await subscriber(broker.url, [channelFilter(Channel.Telemetry)]);
    const fleet = await runFleet(base({ cloud: { url: cloud.url, adminToken: TOKEN }, credentialsFile }), logger);
    expect(fleet.devices).toHaveLength(12);
    expect(cloud.calls.filter((c) => c === 201)).toHaveLength(12);
    const mode = (await stat(credentialsFile)).mode & 0o777;
    expect(mode).toBe(0o600);
    const file = JSON.parse(await readFile(credentialsFile, 'utf8')) as { devices: Record<string, { secret: string }> };
    for (const d of fleet.devices) expect(file.devices[d.id]?.secret).toBe(cloud.registry.get(d.id)?.secret);

    expect(await fleet.ready()).toEqual({ connected: 12, failed: 0 });
    // Wait for what is asserted: every device seen by the subscriber (a count of publishes
    // says nothing about which devices made them, nor whether they have arrived yet).
    const seen = (): number => new Set(sub.messages.map((m) => parseDeviceTopic(m.topic)?.deviceId)).size;
    await until(() => fleet.stats().published >= 36 && seen() === 12, 'telemetry from every device of the fleet');
    // Every device's messages carry its own id and kind, and seq increases by one.
    const seqs = new Map<string, number[]>();
    for (const m of sub.messages) {
      const t = Telemetry.decode(m.payload);
      const topic = parseDeviceTopic(m.topic)!;
      expect(t.header?.deviceId).toBe(topic.deviceId);
      expect(t.header?.kind).toBe(topic.kind);
      seqs.set(topic.deviceId, [...(seqs.get(topic.deviceId) ?? []), t.header!.seq]);
    }
    expect(seqs.size).toBe(12);
    for (const list of seqs.values()) {
      for (let i = 1; i < list.length; i++) expect(list[i]).toBeGreaterThan(list[i - 1]!);
    }
    await fleet.close();
    expect(fleet.stats().connected).toBe(0);

    // Restart: the cloud answers 409 for every device; the file supplies the secrets.
    const before = cloud.calls.length;
    const again = await runFleet(base({ cloud: { url: cloud.url, adminToken: TOKEN }, credentialsFile }), logger);
    expect(cloud.calls.slice(before)).toEqual(Array(12).fill(409));
    expect((await again.ready()).connected).toBe(12);
    const published = again.stats().published;
    await until(() => again.stats().published > published, 'telemetry after restart');
    await again.close();
    await sub.client.endAsync();
  });

  it('fails clearly when the cloud has the device but the credentials file lacks its secret', async () => {
    const err = await runFleet(base({ cloud: { url: cloud.url, adminToken: TOKEN }, credentialsFile: join(dir, 'empty.json') }), logger)
      .then(() => undefined, (e: unknown) => e as SimError);
    expect(err?.code).toBe(SimErrorCode.MissingSecret);
    expect(err?.message).toMatch(/device (ev|locker|fall|env)-(north|south)-\d{4} is already registered/);
  });

  it('reports a bad admin token as a typed error', async () => {
    const err = await runFleet(base({ kinds: ['env-monitor'], sites: ['west'], cloud: { url: cloud.url, adminToken: 'nope' } }), logger)
      .then(() => undefined, (e: unknown) => e as SimError);
    expect(err?.code).toBe(SimErrorCode.CloudAuth);
    expect(err?.message).toContain('admin token');
  });

  it('without a cloud, needs secrets from an explicit list or the file', async () => {
    const err = await runFleet(base(), logger).then(() => undefined, (e: unknown) => e as SimError);
    expect(err?.code).toBe(SimErrorCode.MissingSecret);
    const secret = cloud.registry.get('env-north-0001')!.secret;
    const fleet = await runFleet(base({ devices: [{ id: 'env-north-0001', site: 'north', kind: 'env-monitor', secret }], ratePerDevice: 0.5 }), logger);
    expect(await fleet.ready()).toEqual({ connected: 1, failed: 0 });
    expect(fleet.devices[0]).toMatchObject({ id: 'env-north-0001', kind: 'env-monitor' });
    await fleet.close();
  });

  it('rejects bad options with typed errors', async () => {
    for (const over of [{ ratePerDevice: 0 }, { sites: [] }, { sites: ['bad/site'] }, { kinds: ['toaster' as 'ev-charger'] }]) {
      const err = await runFleet(base(over), logger).then(() => undefined, (e: unknown) => e as SimError);
      expect(err?.code).toBe(SimErrorCode.BadOptions);
    }
  });
});

describe('fleet scenarios', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startBroker(() => true);
  });
  afterAll(async () => {
    await broker.close();
  });
  const devices = [
    { id: 'fall-a-0001', site: 'a', kind: 'fall-sensor' as const, secret: 's1' },
    { id: 'env-a-0001', site: 'a', kind: 'env-monitor' as const, secret: 's2' },
  ];
  const opts = (over: Partial<FleetOptions> = {}): FleetOptions => ({
    kinds: [], countPerKind: 0, sites: ['a'], ratePerDevice: 20, qos: 1, mqttUrl: broker.url, seed: 1, devices,
    modelOverrides: { fallSensor: { fallsPerDay: 0, sosPerDay: 0 } }, ...over,
  });
  const ofDevice = (msgs: { topic: string }[], id: string): number => msgs.filter((m) => parseDeviceTopic(m.topic)?.deviceId === id).length;

  it('forces a scenario at start (the first fall sensor) and on demand on a running fleet; silent stops all publishing', async () => {
    const events = await subscriber(broker.url, [channelFilter(Channel.Event)]);
    const telemetry = await subscriber(broker.url, [channelFilter(Channel.Telemetry)]);
    const fleet = await runFleet(opts({ scenarios: [{ scenario: 'sos' }] }), logger);
    await fleet.ready();
    const types = (): string[] => events.messages.map((m) => Event.decode(m.payload).type);
    await until(() => types().includes('sos.pressed'), 'sos.pressed from the start-up scenario');

    fleet.scenario('fall-a-0001', 'confirmed-fall');
    await until(() => types().includes('fall.detected'), 'fall.detected on demand');
    const detected = events.messages.map((m) => Event.decode(m.payload)).find((e) => e.type === 'fall.detected')!;
    expect(detected.attributes).toMatchObject({ source: 'radar' });
    expect(detected.header?.deviceId).toBe('fall-a-0001');

    fleet.scenario('fall-a-0001', 'silent');
    await new Promise((r) => setTimeout(r, 150)); // in-flight messages land
    const frozen = ofDevice(telemetry.messages, 'fall-a-0001');
    const frozenEvents = events.messages.length;
    const env = ofDevice(telemetry.messages, 'env-a-0001');
    await until(() => ofDevice(telemetry.messages, 'env-a-0001') >= env + 5, 'the other device keeps publishing');
    expect(ofDevice(telemetry.messages, 'fall-a-0001')).toBe(frozen);
    expect(events.messages.length).toBe(frozenEvents);
    expect(fleet.stats().connected).toBe(2); // hung firmware: the session stays up

    fleet.scenario('fall-a-0001', 'normal');
    await until(() => ofDevice(telemetry.messages, 'fall-a-0001') > frozen, 'publishing again after normal');
    await fleet.close();
    await events.client.endAsync();
    await telemetry.client.endAsync();
  });

  it('rejects scenarios for unknown devices, other kinds and unknown names', async () => {
    for (const sc of [{ scenario: 'sos' as const, deviceId: 'fall-zz-0001' }, { scenario: 'sos' as const, deviceId: 'env-a-0001' }, { scenario: 'nap' as 'sos' }]) {
      const err = await runFleet(opts({ scenarios: [sc] }), logger).then(() => undefined, (e: unknown) => e as SimError);
      expect(err?.code).toBe(SimErrorCode.BadOptions);
    }
    const fleet = await runFleet(opts(), logger);
    expect(() => fleet.scenario('env-a-0001', 'sos')).toThrow(/not a fall-sensor/);
    expect(() => fleet.scenario('nobody', 'sos')).toThrow(/no device "nobody"/);
    await fleet.close();
  });
});
