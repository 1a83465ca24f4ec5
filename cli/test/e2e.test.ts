import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { Channel, DeviceKind, Telemetry, deviceTopic } from '@yulan/protos';
import { runUp, type UpHandle } from '../src/up.js';
import { api, connect, eventually, quietLogger, readSecrets, subackCodes, tempDir } from './support.js';

interface DeviceView {
  id: string; site: string; kind: string; status: string;
  lastSeen: string | null; lastValues: { ts: number; fields: Record<string, number> } | null;
}
interface TelemetryPoint { ts: number; seq?: number; fields: Record<string, unknown> }

// The whole platform as `yulan up` starts it — real Aedes broker, edge agent with the
// embedded SQLite store, Fastify cloud and a simulated fleet — on ephemeral ports.
describe('yulan up, end to end', () => {
  const tmp = tempDir('yulan-e2e-');
  const env: NodeJS.ProcessEnv = {
    YULAN_DATA_DIR: tmp.dir,
    YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0',
    YULAN_MQTT_HOST: '127.0.0.1', YULAN_HTTP_HOST: '127.0.0.1', YULAN_OCPP_PORT: '0',
    YULAN_SIM_DEVICES: '2', YULAN_SIM_RATE: '4', YULAN_SIM_SITES: 'xuhui,pudong',
    YULAN_SERIAL_DEMO: '0', // counts the simulated fleet exactly; the serial demo has its own test
  };
  let up: UpHandle;
  let base: string;
  let token: string;
  let mqttUrl: string;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    up = await runUp(env, quietLogger, () => {});
    base = `http://127.0.0.1:${up.httpPort}`;
    mqttUrl = `mqtt://127.0.0.1:${up.mqttPort}`;
    expect(up.adminToken).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    token = up.adminToken!;
  });

  afterAll(async () => {
    for (const c of clients) c.end(true);
    await up?.close();
    tmp.cleanup();
  });

  it('seeds the care demo on the first start: a resident per fall sensor, family and worker who can sign in', async () => {
    const demo = up.careDemo!;
    expect(demo.residents).toHaveLength(2);
    const family = demo.accounts.find((a) => a.role === 'family')!;
    const login = await fetch(`${base}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login: family.login, password: family.password }) });
    expect(login.status).toBe(200);
    const { token: session } = (await login.json()) as { token: string };
    const me = await api<{ residents: { id: string }[] }>(base, session, '/api/v1/me');
    expect(me.body.residents.map((r) => r.id).sort()).toEqual(demo.residents.map((r) => r.id).sort());
    const wrong = await fetch(`${base}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login: family.login, password: 'guessed-password' }) });
    expect(wrong.status).toBe(401);
  });

  it('refuses the API without the admin token', async () => {
    expect((await api(base, 'wrong', '/api/v1/devices')).status).toBe(401);
    expect((await fetch(`${base}/api/v1/devices`)).status).toBe(401);
  });

  it('provisions the simulated fleet, which comes online with live values', async () => {
    // Two per kind over MQTT, and one charger speaking OCPP 1.6J through the gateway.
    const list = await eventually(async () => {
      const r = await api<{ items: DeviceView[]; total: number }>(base, token, '/api/v1/devices?limit=100');
      const ready = r.body.items.filter((d) => d.status === 'online' && d.lastValues);
      return ready.length === 9 ? r.body : undefined;
    }, 'nine simulated devices online with last values', 30_000);
    expect(list.items.filter((d) => d.id.startsWith('ocpp-')).map((d) => d.kind)).toEqual(['ev-charger']);
    // the gateway speaks for its chargers over one session of its own broker account (docs/ocpp.md §3.1)
    const gw = (await (await fetch(`http://127.0.0.1:${up.ocppPort}/healthz`)).json()) as { chargers: number; brokerSession?: boolean };
    expect(gw).toMatchObject({ chargers: 1, brokerSession: true });
    expect(new Set(list.items.map((d) => d.kind))).toEqual(new Set(['ev-charger', 'parcel-locker', 'fall-sensor', 'env-monitor']));
    expect(new Set(list.items.map((d) => d.site))).toEqual(new Set(['xuhui', 'pudong']));

    const env1 = list.items.find((d) => d.kind === 'env-monitor')!;
    const raw = await eventually(async () => {
      const r = await api<{ points: TelemetryPoint[] }>(base, token, `/api/v1/devices/${env1.id}/telemetry?resolution=raw&fields=pm25_ugm3,noise_dba`);
      return r.status === 200 && r.body.points.length >= 3 ? r.body.points : undefined;
    }, 'stored raw telemetry');
    for (const p of raw) {
      expect(typeof p.fields.pm25_ugm3).toBe('number');
      expect(p.fields).not.toHaveProperty('temperature_c');
    }
    const filtered = await api<{ items: DeviceView[] }>(base, token, '/api/v1/devices?kind=fall-sensor&site=xuhui');
    expect(filtered.body.items.map((d) => d.kind + '@' + d.site)).toEqual(['fall-sensor@xuhui']);
  });

  describe('a device registered through the API', () => {
    let id: string;
    let secret: string;
    const addr = () => ({ site: 'jingan', kind: DeviceKind.ENV_MONITOR, deviceId: id });

    beforeAll(async () => {
      const r = await api<{ device: DeviceView; secret: string }>(base, token, '/api/v1/devices', {
        method: 'POST', body: JSON.stringify({ id: 'env-e2e-1', site: 'jingan', kind: 'env-monitor' }),
      });
      expect(r.status).toBe(201);
      id = r.body.device.id;
      secret = r.body.secret;
    });

    it('is refused with a wrong secret', async () => {
      await expect(connect(mqttUrl, { clientId: id, username: id, password: 'not-the-secret' })).rejects.toThrow(/Bad username or password|Not authorized/i);
    });

    it('cannot publish or subscribe outside its own topics', async () => {
      const dev = await connect(mqttUrl, { clientId: id, username: id, password: secret });
      clients.push(dev);
      expect(await subackCodes(dev, ['yulan/v1/#', deviceTopic(addr(), Channel.Command)])).toEqual([128, 1]);
      expect(await subackCodes(dev, [deviceTopic({ ...addr(), deviceId: 'env-other' }, Channel.Command)])).toEqual([128]);

      // A reading published as another device must never be stored.
      const spoof = Telemetry.encode({ header: { deviceId: 'env-victim', kind: DeviceKind.ENV_MONITOR, seq: 1, tsMs: Date.now() }, envMonitor: { pm25Ugm3: 999 } });
      await dev.publishAsync(deviceTopic({ ...addr(), deviceId: 'env-victim' }, Channel.Telemetry), Buffer.from(spoof), { qos: 1 }).catch(() => undefined);
      const ok = Telemetry.encode({ header: { deviceId: id, kind: DeviceKind.ENV_MONITOR, seq: 1, tsMs: Date.now() }, envMonitor: { pm25Ugm3: 12, noiseDba: 48 } });
      await dev.publishAsync(deviceTopic(addr(), Channel.Telemetry), Buffer.from(ok), { qos: 1 });
      await eventually(async () => (await api<DeviceView>(base, token, `/api/v1/devices/${id}`)).body.lastValues, 'own reading stored');
      const victim = await fetch(`http://127.0.0.1:${up.edgePort}/v1/latest?deviceId=env-victim`, { headers: { authorization: `Bearer ${readSecrets(tmp.dir).edgeToken}` } });
      expect(JSON.stringify(await victim.json())).not.toContain('999');
    });

    it('counts garbage payloads at the edge and keeps the pipeline going', async () => {
      const edgeToken = readSecrets(tmp.dir).edgeToken;
      const metrics = async () => (await (await fetch(`http://127.0.0.1:${up.edgePort}/metrics`, { headers: { authorization: `Bearer ${edgeToken}` } })).json()) as Record<string, unknown>;
      const deadLetters = (m: Record<string, unknown>): number => {
        const d = m.deadLetters as number | Record<string, number>;
        return typeof d === 'number' ? d : Object.values(d).reduce((a, b) => a + b, 0);
      };
      const before = deadLetters(await metrics());
      const dev = await connect(mqttUrl, { clientId: id, username: id, password: secret });
      clients.push(dev);
      const topic = deviceTopic(addr(), Channel.Telemetry);
      await dev.publishAsync(topic, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]), { qos: 1 });
      await dev.publishAsync(topic, Buffer.from('{"not":"protobuf"}'), { qos: 1 });
      const good = Telemetry.encode({ header: { deviceId: id, kind: DeviceKind.ENV_MONITOR, seq: 2, tsMs: Date.now() }, envMonitor: { pm25Ugm3: 77, noiseDba: 50 } });
      await dev.publishAsync(topic, Buffer.from(good), { qos: 1 });
      await eventually(async () => deadLetters(await metrics()) >= before + 2, 'two dead letters counted');
      await eventually(async () => (await api<DeviceView>(base, token, `/api/v1/devices/${id}`)).body.lastValues?.fields.pm25_ugm3 === 77, 'valid reading after garbage stored');
    });

    it('is cut off when disabled and refused afterwards', async () => {
      const dev = await connect(mqttUrl, { clientId: id, username: id, password: secret });
      const closed = new Promise<void>((r) => dev.once('close', () => r()));
      const r = await api<DeviceView>(base, token, `/api/v1/devices/${id}/disable`, { method: 'POST' });
      expect(r.status).toBe(200);
      expect(r.body.status).toBe('disabled');
      await closed;
      dev.end(true);
      await expect(connect(mqttUrl, { clientId: id, username: id, password: secret })).rejects.toThrow(/Not authorized|Bad username|unavailable/i);
    });
  });

  it('keeps the registry and stored telemetry across a restart', async () => {
    const before = await api<{ total: number; items: DeviceView[] }>(base, token, '/api/v1/devices?limit=100');
    const probe = before.body.items.find((d) => d.kind === 'ev-charger')!;
    const count = async (): Promise<number> => (await api<{ points: TelemetryPoint[] }>(base, token, `/api/v1/devices/${probe.id}/telemetry?resolution=raw&limit=10000`)).body.points.length;
    const stored = await count();
    expect(stored).toBeGreaterThan(0);
    await up.close();

    up = await runUp({ ...env, YULAN_SIM_DEVICES: '0' }, quietLogger, () => {});
    base = `http://127.0.0.1:${up.httpPort}`;
    expect(up.adminToken).toBeUndefined();
    expect(up.careDemo).toBeUndefined();
    const after = await api<{ total: number }>(base, token, '/api/v1/devices?limit=100');
    expect(after.status).toBe(200);
    expect(after.body.total).toBe(before.body.total);
    expect(await count()).toBeGreaterThanOrEqual(stored);
  });
});
