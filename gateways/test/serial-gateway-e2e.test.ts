import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LockBoardEmulator, Mr60fda1Emulator, Pms5003Emulator, Sds011Emulator, type PtyPair } from '../../device-sims/src/serial/index.js';
import { runUp, type UpHandle } from '../../cli/src/up.js';
import { loadSerialGatewayConfig, startSerialGateway, startSerialHttp, type SerialGatewayHandle } from '../src/serial/index.js';
import { eventually, pty, quietLogger, socatAvailable, tempDir } from './serial-support.js';

interface DeviceView { id: string; status: string }
interface Point { ts: number; fields: Record<string, number> }
interface CommandView { id: string; status: string; message: string | null }

/**
 * Issue 13 end to end: emulated sensors on socat ptys → the serial gateway (real serialport)
 * → broker → edge → cloud, with each device registered through the API like any other.
 */
describe.skipIf(!socatAvailable())('serial gateway end to end (pty → gateway → broker → edge → cloud)', () => {
  const tmp = tempDir('yulan-serial-e2e-');
  let up: UpHandle;
  let base = '';
  let token = '';
  let gw: SerialGatewayHandle;
  let hook: Server;
  const pages: { kind: string; alertId: string }[] = [];
  const pairs: Record<string, PtyPair> = {};
  let pms: Pms5003Emulator;
  let radar: Mr60fda1Emulator;
  let lock: LockBoardEmulator;
  let sds: Sds011Emulator;

  const call = async <T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const r = await fetch(`${base}/api/v1${path}`, {
      method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await r.text();
    return { status: r.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
  const ok = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const r = await call<T>(method, path, body);
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };

  beforeAll(async () => {
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => { body += c.toString(); });
      req.on('end', () => {
        const b = JSON.parse(body) as { kind: string; alert: { id: string } };
        pages.push({ kind: b.kind, alertId: b.alert.id });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    up = await runUp({
      YULAN_DATA_DIR: join(tmp.dir, 'data'), YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0',
      YULAN_MQTT_HOST: '127.0.0.1', YULAN_HTTP_HOST: '127.0.0.1', YULAN_SIM_DEVICES: '0', YULAN_CARE_DEMO: '0',
    }, quietLogger, () => {});
    base = `http://127.0.0.1:${up.httpPort}`;
    token = up.adminToken!;

    // Registered like any device; the gateway gets only these three secrets.
    const devices = [
      { id: 'env-ser-1', site: 'xuhui', kind: 'env-monitor' },
      { id: 'fall-ser-1', site: 'xuhui', kind: 'fall-sensor' },
      { id: 'locker-ser-1', site: 'xuhui', kind: 'parcel-locker' },
      { id: 'env-sds-1', site: 'xuhui', kind: 'env-monitor' },
    ];
    const creds: Record<string, { site: string; kind: string; secret: string }> = {};
    for (const d of devices) creds[d.id] = { ...d, secret: (await ok<{ secret: string }>('POST', '/devices', d)).secret };
    writeFileSync(join(tmp.dir, 'creds.json'), JSON.stringify({ version: 1, devices: creds }), { mode: 0o600 });

    for (const n of ['pms', 'radar', 'lock', 'sds']) pairs[n] = await pty(tmp.dir, n);
    pms = new Pms5003Emulator({ path: pairs.pms!.device, intervalMs: 200 });
    pms.set([7, 17, 27]);
    radar = new Mr60fda1Emulator({ path: pairs.radar!.device, movementIntervalMs: 500 });
    lock = new LockBoardEmulator({ path: pairs.lock!.device, address: 1, channels: 4, jammed: [4] });
    sds = new Sds011Emulator({ path: pairs.sds!.device, intervalMs: 200, firmware: [21, 3, 9] });
    sds.pm25 = 41.7;
    sds.pm10 = 63.2;
    await Promise.all([pms.start(), radar.start(), lock.start(), sds.start()]);

    writeFileSync(join(tmp.dir, 'gateway.json'), JSON.stringify({
      mqttUrl: `mqtt://127.0.0.1:${up.mqttPort}`, credentialsFile: 'creds.json', minBackoffMs: 100, maxBackoffMs: 1000,
      devices: [
        { ...devices[0], sensor: 'pms5003', port: pairs.pms!.host, mode: 'passive', intervalS: 1, dutyCycle: false },
        { ...devices[1], sensor: 'mr60fda1', port: pairs.radar!.host, intervalS: 2, silenceS: 3 },
        { ...devices[2], sensor: 'lock-board', port: pairs.lock!.host, address: 1, doors: 4, intervalS: 5 },
        { ...devices[3], sensor: 'sds011', port: pairs.sds!.host, mode: 'passive', intervalS: 1, dutyCycle: false },
      ],
    }));
    const loaded = await loadSerialGatewayConfig(join(tmp.dir, 'gateway.json'));
    gw = startSerialGateway(loaded.config, loaded.secrets, quietLogger);

    await ok('POST', '/communities', { id: 'tianping', name: 'Tianping' });
    const daughter = (await ok<{ person: { id: string } }>('POST', '/people', {
      login: 'daughter', name: 'Li Wei', role: 'family', locale: 'en', password: 'correct horse battery staple',
      channels: [{ type: 'webhook', address: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/daughter` }],
    })).person;
    await ok('POST', '/residents', { id: 'wang', name: 'Wang Fang', communityId: 'tianping', ladder: { cancelWindowSec: 0, familyAckSec: 600 } });
    await ok('PUT', '/residents/wang/devices', { deviceIds: ['fall-ser-1'] });
    await ok('PUT', '/residents/wang/family', { contacts: [{ userId: daughter.id }] });
  }, 180_000);

  afterAll(async () => {
    await gw?.close();
    for (const e of [pms, radar, lock, sds]) await e?.close();
    for (const p of Object.values(pairs)) await p.unplug();
    await up?.close();
    await new Promise((r) => hook?.close(r));
    tmp.cleanup();
  });

  const status = async (id: string) => (await ok<DeviceView>('GET', `/devices/${id}`)).status;

  it('a PMS5003 in passive mode is polled and its readings stored (no invented temperature or noise)', async () => {
    const points = await eventually(async () => {
      const r = await ok<{ points: Point[] }>('GET', '/devices/env-ser-1/telemetry?resolution=raw');
      return r.points.length >= 2 ? r.points : undefined;
    }, 'stored PMS5003 readings', 30_000);
    expect(points[0]!.fields).toMatchObject({ pm1_ugm3: 7, pm25_ugm3: 17, pm10_ugm3: 27 });
    expect(points[0]!.fields).not.toHaveProperty('noise_dba');
    expect(points[0]!.fields).not.toHaveProperty('temperature_c');
    expect(pms.mode).toBe('passive');
    expect(pms.received).toContain('read');
    // Stored readings are the edge's; the registry's status follows the presence message on the
    // cloud's own path (batched): wait for it rather than reading it once.
    await eventually(async () => (await status('env-ser-1')) === 'online', 'env-ser-1 online in the registry');
  });

  it('an SDS011 in query mode is polled, its readings stored, and its firmware (0xC5 reply) asked at start and reported', async () => {
    const points = await eventually(async () => {
      const r = await ok<{ points: Point[] }>('GET', '/devices/env-sds-1/telemetry?resolution=raw');
      return r.points.length >= 2 ? r.points : undefined;
    }, 'stored SDS011 readings', 30_000);
    expect(points[0]!.fields).toMatchObject({ pm25_ugm3: 41.7, pm10_ugm3: 63.2 });
    // The SDS011 has no PM1 channel: nothing invented.
    expect(points[0]!.fields).not.toHaveProperty('pm1_ugm3');
    expect(points[0]!.fields).not.toHaveProperty('temperature_c');
    expect(sds.reporting).toBe('query');
    expect(sds.received.slice(0, 4)).toEqual(['work', 'period:0', 'mode:query', 'firmware']);
    await eventually(async () => (await status('env-sds-1')) === 'online', 'env-sds-1 online in the registry');
    const fw = await eventually(async () => {
      const r = await ok<{ events: { type: string; attributes?: Record<string, string> }[] } | { items: { type: string; attributes?: Record<string, string> }[] }>('GET', '/devices/env-sds-1/events');
      return ('events' in r ? r.events : r.items).find((e) => e.type === 'sensor.module_firmware');
    }, 'the module firmware event', 30_000);
    expect(fw.attributes).toMatchObject({ sensor: 'sds011', firmware: '2021-03-09', module_id: '60A1' });
    expect(gw.status()['env-sds-1']).toMatchObject({ moduleFirmware: '2021-03-09', frames: { checksumErrors: 0 } });
  });

  it('/healthz is ok once every sensor and its session are up, and /metrics counts a corrupted SDS011 frame on its port', async () => {
    const http = await startSerialHttp(gw, { host: '127.0.0.1', port: 0 }, quietLogger);
    try {
      const url = `http://127.0.0.1:${http.port}`;
      await eventually(async () => ((await (await fetch(`${url}/healthz`)).json()) as { status: string }).status === 'ok', 'healthz ok');
      expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok', devices: 4, up: 4 });
      sds.corruptNext();
      const m = await eventually(async () => {
        const body = (await (await fetch(`${url}/metrics`)).json()) as { devices: Record<string, { port: string; checksumErrors: number; mqtt: boolean }> };
        return body.devices['env-sds-1']!.checksumErrors === 1 ? body : undefined;
      }, 'the SDS011 checksum error on /metrics');
      expect(m.devices['env-sds-1']).toMatchObject({ port: pairs.sds!.host, mqtt: true });
      expect(m.devices['env-ser-1']!.checksumErrors).toBe(0);
    } finally {
      await http.close();
    }
  });

  it('a radar fall frame, confirmed by the dwell alarm, becomes a paged alert', async () => {
    await eventually(async () => (await status('fall-ser-1')) === 'online', 'radar online');
    radar.setPresence(true);
    radar.fall();
    radar.dwell();
    const page = await eventually(() => pages.find((p) => p.kind === 'page'), 'the family paged', 45_000);
    const alert = await ok<{ alert: { type: string; level: string; deviceId?: string } }>('GET', `/alerts/${encodeURIComponent(page.alertId)}`);
    expect(alert.alert).toMatchObject({ type: 'fall' });
    // The cloud raises the alert from the broker's event at once; the events API reads the
    // edge's store, which commits its batch on its own clock: wait for both to be stored there.
    const types = await eventually(async () => {
      const events = await ok<{ events: { type: string }[] } | { items: { type: string }[] }>('GET', '/devices/fall-ser-1/events');
      const t = ('events' in events ? events.events : events.items).map((e) => e.type);
      return t.includes('fall.detected') && t.includes('fall.long_lie') ? t : undefined;
    }, 'the fall events in the store', 30_000);
    expect(types).toEqual(expect.arrayContaining(['fall.detected', 'fall.long_lie']));
  });

  it('a locker door opens on command and the command succeeds on the door sensor; a jammed latch fails', async () => {
    await eventually(async () => (await status('locker-ser-1')) === 'online', 'locker online');
    const cmd = await ok<CommandView>('POST', '/devices/locker-ser-1/commands', { name: 'locker.open', args: { compartment: 2 }, timeoutSec: 20 });
    const done = await ok<CommandView>('GET', `/commands/${cmd.id}?wait=30`);
    expect(done.status).toBe('succeeded');
    expect(lock.doorsOpen).toEqual([false, true, false, false]);
    // Next visit: the door shut, opened again by a second command.
    lock.setDoor(2, false);
    const again = await ok<CommandView>('POST', '/devices/locker-ser-1/commands', { name: 'locker.open', args: { compartment: 2 }, timeoutSec: 20 });
    expect((await ok<CommandView>('GET', `/commands/${again.id}?wait=30`)).status).toBe('succeeded');
    const jam = await ok<CommandView>('POST', '/devices/locker-ser-1/commands', { name: 'locker.open', args: { compartment: 4 }, timeoutSec: 20 });
    const failed = await ok<CommandView>('GET', `/commands/${jam.id}?wait=30`);
    expect(failed.status).toBe('failed');
    expect(lock.received.filter((r) => r === 'open:2')).toHaveLength(2);
  });

  it('the twin sets the radar sensitivity on the module and reports it applied', async () => {
    await ok('PUT', '/devices/fall-ser-1/twin/desired', { settings: { sensitivity: 10 } });
    await eventually(() => radar.sensitivity === 3, 'module sensitivity 3');
    const twin = await eventually(async () => {
      const t = await ok<{ inSync: boolean; reported: { settings: Record<string, number> } }>('GET', '/devices/fall-ser-1/twin');
      return t.inSync ? t : undefined;
    }, 'twin in sync');
    expect(twin.reported.settings.sensitivity).toBe(10);

    // The env monitor's report interval is its sampling period (and so its duty cycle).
    await ok('PUT', '/devices/env-ser-1/twin/desired', { settings: { report_interval_s: 2 } });
    const env = await eventually(async () => {
      const t = await ok<{ inSync: boolean; reported: { settings: Record<string, number>; error: string | null } }>('GET', '/devices/env-ser-1/twin');
      return t.inSync ? t : undefined;
    }, 'env twin in sync');
    expect(env.reported.settings.report_interval_s).toBe(2);
    expect(env.reported.error ?? '').toBe('');
  });

  it('an unplugged sensor goes offline and recovers, with readings, when its port returns', async () => {
    await pairs.pms!.unplug();
    await eventually(async () => (await status('env-ser-1')) === 'offline', 'env monitor offline', 30_000);
    const before = (await ok<{ points: Point[] }>('GET', '/devices/env-ser-1/telemetry?resolution=raw')).points.length;
    pms.set([3, 5, 9]);
    await pairs.pms!.replug();
    await eventually(async () => (await status('env-ser-1')) === 'online', 'env monitor online again', 30_000);
    await eventually(async () => {
      const r = await ok<{ points: Point[] }>('GET', '/devices/env-ser-1/telemetry?resolution=raw');
      return r.points.length > before && r.points.some((p) => p.fields.pm25_ugm3 === 5);
    }, 'new readings after the replug', 30_000);
    expect(gw.status()['env-ser-1']!.port.disconnects).toBe(1);
  });

  it('a device disabled in the registry is cut off, and comes back through the gateway once enabled', async () => {
    await ok('POST', '/devices/locker-ser-1/disable');
    await eventually(async () => (await status('locker-ser-1')) === 'disabled', 'locker disabled');
    // The broker refuses its CONNACK meanwhile; the gateway keeps retrying with back-off.
    await ok('POST', '/devices/locker-ser-1/enable');
    await eventually(async () => (await status('locker-ser-1')) === 'online', 'locker online again', 60_000);
    const cmd = await ok<CommandView>('POST', '/devices/locker-ser-1/commands', { name: 'locker.open', args: { compartment: 1 }, timeoutSec: 20 });
    expect((await ok<CommandView>('GET', `/commands/${cmd.id}?wait=30`)).status).toBe('succeeded');
  }, 120_000);

  it('a radar that goes silent on an open port goes offline, and online again when it talks', async () => {
    await eventually(async () => (await status('fall-ser-1')) === 'online', 'radar online');
    radar.goSilent();
    await eventually(async () => (await status('fall-ser-1')) === 'offline', 'radar offline while silent', 30_000);
    expect(gw.status()['fall-ser-1']).toMatchObject({ online: false, silences: 1, port: { disconnects: 0 } });
    radar.resume();
    await eventually(async () => (await status('fall-ser-1')) === 'online', 'radar online again', 30_000);
    // And its readings flow again.
    radar.setPresence(false);
    await eventually(async () => {
      const r = await ok<{ points: Point[] }>('GET', '/devices/fall-ser-1/telemetry?resolution=raw');
      return r.points.at(-1)?.fields.presence === 0;
    }, 'telemetry after the silence', 30_000);
  });
});
