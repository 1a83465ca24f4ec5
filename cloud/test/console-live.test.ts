import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Channel, DeviceKind, Presence, Telemetry, deviceTopic } from '@yulan/protos';
import { loadCloudConfig } from '../src/config.js';
import { startCloud, type CloudHandle } from '../src/start.js';
import { cloudEnv, silentLogger, startBroker, startEdgeStub, tempDir, waitFor, type EdgeStub, type TestBroker } from './helpers.js';

/** The console's live stream (GET /api/v1/live) against a real broker, MQTT device and cloud. */
const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
const PASSWORD = 'a long enough password';
const tmp = tempDir('yulan-console-live-');
let broker: TestBroker; let edge: EdgeStub; let cloud: CloudHandle; let dev: MqttClient;
let operatorCookie = '';
const aborts: AbortController[] = [];

/** Reads an SSE response into a list of {event, data} as they arrive. */
async function stream(path: string, headers: Record<string, string>): Promise<{ status: number; events: { event: string; data: unknown }[] }> {
  const ac = new AbortController();
  aborts.push(ac);
  const r = await fetch(cloud.url + path, { headers, signal: ac.signal });
  const out = { status: r.status, events: [] as { event: string; data: unknown }[] };
  if (r.status !== 200 || !r.body) return out;
  void (async () => {
    let buf = '';
    try {
      for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
        buf += Buffer.from(chunk).toString('utf8');
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) out.events.push({ event, data: JSON.parse(data) });
        }
      }
    } catch { /* aborted */ }
  })();
  return out;
}

const addr = { site: 'xuhui', kind: DeviceKind.FALL_SENSOR, deviceId: 'fall-1' };
const telemetry = (heart: number) => dev.publishAsync(deviceTopic(addr, Channel.Telemetry), Buffer.from(Telemetry.encode({
  header: { deviceId: 'fall-1', kind: DeviceKind.FALL_SENSOR, seq: heart, tsMs: Date.now() },
  fallSensor: { presence: true, motion: 2, fall: false, longLie: false, heartRateBpm: heart, breathingRateBpm: 14, sos: false, batteryPct: 90 },
})), { qos: 1 });

beforeAll(async () => {
  broker = await startBroker({ cloud: 'cloud-pw', 'fall-1': 'x' });
  edge = await startEdgeStub();
  cloud = await startCloud(loadCloudConfig(cloudEnv(tmp.dir, broker, edge, 'cloud-pw', { YULAN_ADMIN_TOKEN: ADMIN })), silentLogger, { dashboardDir: null });
  const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
  expect((await fetch(`${cloud.url}/api/v1/devices`, { method: 'POST', headers: admin, body: JSON.stringify({ id: 'fall-1', site: 'xuhui', kind: 'fall-sensor' }) })).status).toBe(201);
  expect((await fetch(`${cloud.url}/api/v1/people`, { method: 'POST', headers: admin, body: JSON.stringify({ login: 'op.wang', name: 'Wang', role: 'operator', password: PASSWORD }) })).status).toBe(201);
  const login = await fetch(`${cloud.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login: 'op.wang', password: PASSWORD }) });
  operatorCookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
  await waitFor(async () => ((await (await fetch(`${cloud.url}/healthz`)).json()) as { mqtt: boolean }).mqtt, 'cloud mqtt connected');
  dev = await mqtt.connectAsync(broker.url, { clientId: 'fall-1', username: 'fall-1', password: 'x' });
});
afterAll(async () => {
  for (const a of aborts) a.abort();
  await dev?.endAsync(true);
  await cloud?.close(); await edge?.close(); await broker?.close();
  tmp.cleanup();
});

describe('GET /api/v1/live', () => {
  it('streams a watched device\'s telemetry: all of it to the admin token, without health fields to an operator', async () => {
    const asAdmin = await stream('/api/v1/live?device=fall-1', { authorization: `Bearer ${ADMIN}` });
    const asOperator = await stream('/api/v1/live?device=fall-1', { cookie: operatorCookie });
    expect([asAdmin.status, asOperator.status]).toEqual([200, 200]);
    // The cloud subscribes once the stream is open; publish until a reading comes through.
    let beat = 60;
    const seen = await waitFor(async () => {
      await telemetry(beat++);
      return asAdmin.events.find((e) => e.event === 'telemetry') && asOperator.events.find((e) => e.event === 'telemetry');
    }, 'telemetry on both streams');
    const admin = asAdmin.events.find((e) => e.event === 'telemetry')!.data as { fields: Record<string, number> };
    expect(admin.fields).toMatchObject({ breathing_rate_bpm: 14, battery_pct: 90 });
    expect(admin.fields.heart_rate_bpm).toBeGreaterThanOrEqual(60);
    const op = seen.data as { fields: Record<string, number>; redacted: string[] };
    expect(op.fields.heart_rate_bpm).toBeUndefined();
    expect(op.fields.battery_pct).toBe(90);
    expect(op.redacted).toContain('heart_rate_bpm');
  });

  it('batches presence changes of the fleet to every stream', async () => {
    const s = await stream('/api/v1/live', { authorization: `Bearer ${ADMIN}` });
    await dev.publishAsync(deviceTopic(addr, Channel.Presence), Buffer.from(Presence.encode({ deviceId: 'fall-1', kind: DeviceKind.FALL_SENSOR, online: true, tsMs: Date.now(), reason: 'birth' })), { qos: 1, retain: true });
    const batch = await waitFor(() => s.events.find((e) => e.event === 'presence'), 'presence batch');
    expect(batch.data).toEqual([expect.objectContaining({ deviceId: 'fall-1', online: true })]);
  });

  it("ends an operator's stream when they sign out, with an end event", async () => {
    const login = await fetch(`${cloud.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login: 'op.wang', password: PASSWORD }) });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    const s = await stream('/api/v1/live', { cookie });
    expect(s.status).toBe(200);
    expect((await fetch(`${cloud.url}/api/v1/auth/logout`, { method: 'POST', headers: { cookie } })).status).toBe(204);
    const end = await waitFor(() => s.events.find((e) => e.event === 'end'), 'end event');
    expect(end.data).toEqual({ reason: 'logout' });
    expect((await stream('/api/v1/live', { cookie })).status).toBe(401);
  });

  it('refuses an unknown device (404) and no credentials (401)', async () => {
    expect((await stream('/api/v1/live?device=nope', { authorization: `Bearer ${ADMIN}` })).status).toBe(404);
    expect((await stream('/api/v1/live', {})).status).toBe(401);
  });
});
