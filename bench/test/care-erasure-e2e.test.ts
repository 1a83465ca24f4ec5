import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Channel, DeviceKind, Event, KindSlug, Motion, Severity, Telemetry, deviceTopic } from '@yulan/protos';
import { registerDevices, startStack, type Stack } from '../src/stack.js';

/**
 * Issue 11 case 8 across real `yulan` processes (broker, edge with its SQLite store,
 * cloud): a resident's export includes their fall sensor's telemetry and events from the
 * edge; erasing the resident deletes them at the edge for the linked period; erasing
 * again is a clean 404; the device's data after it is linked to someone else is kept;
 * with the edge down, the erasure fails clearly and erases nothing, and succeeds on retry.
 */
describe('resident erasure reaches the edge', () => {
  let stack: Stack;
  let devs: { id: string; site: string; kind: number; secret: string }[];
  let seq = 0;

  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const res = await fetch(`${stack.cloudUrl}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${stack.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : {} };
  };
  const ok = async (method: string, path: string, body?: unknown): Promise<any> => {
    const r = await call(method, path, body);
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const until = async <T>(probe: () => T | Promise<T>, what: string, ms = 30_000): Promise<NonNullable<T>> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = await probe();
      if (v) return v as NonNullable<T>;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  /** The device publishes `readings` fall-sensor readings and, optionally, a fall event. */
  const publish = async (d: (typeof devs)[number], readings: number, fall = false): Promise<void> => {
    const c = await mqtt.connectAsync(stack.mqttUrl, { clientId: d.id, username: d.id, password: d.secret, reconnectPeriod: 0, protocolVersion: 4 });
    const addr = { site: d.site, kind: DeviceKind.FALL_SENSOR, deviceId: d.id } as const;
    for (let i = 0; i < readings; i++) {
      const t = Telemetry.encode({
        header: { deviceId: d.id, kind: DeviceKind.FALL_SENSOR, seq: ++seq, tsMs: Date.now() },
        fallSensor: { presence: true, motion: Motion.MOVING, fall: false, longLie: false, sos: false, batteryPct: 80, movementLevel: 5 },
      });
      await c.publishAsync(deviceTopic(addr, Channel.Telemetry), Buffer.from(t), { qos: 1 });
    }
    if (fall) {
      const e = Event.encode({ header: { deviceId: d.id, kind: DeviceKind.FALL_SENSOR, seq: ++seq, tsMs: Date.now() }, type: 'fall.detected', severity: Severity.WARNING, message: 'fall in the bathroom', attributes: { room: 'bath' } });
      await c.publishAsync(deviceTopic(addr, Channel.Event), Buffer.from(e), { qos: 1 });
    }
    await c.endAsync();
  };
  const since = Date.now() - 60_000;
  const points = async (deviceId: string) => (await ok('GET', `/devices/${deviceId}/telemetry?from=${since}&to=${Date.now() + 1000}&limit=1000`)).points as { ts: number; fields: Record<string, number> }[];
  const events = async (deviceId: string) => (await ok('GET', `/devices/${deviceId}/events?from=${since}&to=${Date.now() + 1000}`)).events as { type: string }[];

  beforeAll(async () => {
    stack = await startStack({});
    devs = await registerDevices(stack, [{ kind: DeviceKind.FALL_SENSOR, slug: KindSlug[DeviceKind.FALL_SENSOR] }], 2, 'erase-e2e');
    await ok('POST', '/communities', { id: 'c1', name: 'Community 1' });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it('export includes the sensor data of the linked period; erasure deletes it at the edge; a re-linked device keeps its new data', async () => {
    const dev = devs[0]!;
    await ok('POST', '/residents', { id: 'r-a', name: 'Wang Fang', communityId: 'c1' });
    await ok('PUT', '/residents/r-a/devices', { deviceIds: [dev.id] });
    await publish(dev, 5, true);
    await until(async () => (await points(dev.id)).length === 5 && (await events(dev.id)).length === 1, 'readings and the fall stored at the edge');

    const exported = await ok('GET', '/residents/r-a/export');
    expect(exported.deviceData).toHaveLength(1);
    expect(exported.deviceData[0]).toMatchObject({ deviceId: dev.id, complete: true, events: [{ type: 'fall.detected', attributes: { room: 'bath' } }] });
    expect(exported.deviceData[0].telemetry).toHaveLength(5);
    expect(exported.deviceData[0].telemetry[0].fields).toMatchObject({ presence: 1 });

    const erased = await ok('DELETE', '/residents/r-a');
    expect(erased.erased).toMatchObject({ devicePeriods: 1, devices: 1 });
    expect(await points(dev.id)).toEqual([]);
    expect(await events(dev.id)).toEqual([]);
    expect((await ok('GET', `/devices/${dev.id}`)).lastValues).toBeNull();
    // erasing again: the resident is gone, a clean 404
    expect((await call('DELETE', '/residents/r-a')).status).toBe(404);

    // The sensor goes to someone else; what it reports from now on is theirs and stays.
    await ok('POST', '/residents', { id: 'r-b', name: 'Zhang Wei', communityId: 'c1' });
    await ok('PUT', '/residents/r-b/devices', { deviceIds: [dev.id] });
    await publish(dev, 2);
    await until(async () => (await points(dev.id)).length === 2, 'the new readings stored');
    const b = await ok('GET', '/residents/r-b/export');
    expect(b.deviceData[0].telemetry).toHaveLength(2);
    expect((await ok('GET', `/devices/${dev.id}`)).lastValues).not.toBeNull();
  });

  it('with the edge down the erasure fails clearly and erases nothing; a retry once it is back finishes it', async () => {
    const dev = devs[1]!;
    await ok('POST', '/residents', { id: 'r-c', name: 'Li Ming', communityId: 'c1' });
    await ok('PUT', '/residents/r-c/devices', { deviceIds: [dev.id] });
    await publish(dev, 3);
    await until(async () => (await points(dev.id)).length === 3, 'readings stored');

    const edge = stack.edge!;
    const gone = new Promise((r) => edge.proc.once('exit', r));
    edge.proc.kill('SIGKILL');
    await gone;
    const failed = await call('DELETE', '/residents/r-c');
    expect(failed.status).toBe(502);
    expect(failed.body.message).toMatch(/erasure not done/);
    expect((await call('GET', '/residents/r-c')).status).toBe(200);

    await stack.restartEdge();
    const done = await ok('DELETE', '/residents/r-c');
    expect(done.erased.devicePeriods).toBe(1);
    expect(await points(dev.id)).toEqual([]);
    expect((await call('GET', '/residents/r-c')).status).toBe(404);
  });
});
