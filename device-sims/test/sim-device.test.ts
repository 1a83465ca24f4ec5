import {
  Channel, Command, CommandResult, CommandStatus, DeviceKind, Event, Presence, Severity, Telemetry, deviceTopic,
} from '@yulan/protos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimDevice, SimErrorCode, createDeviceModel, type SimError } from '../src/index.js';
import { logger, startBroker, subscriber, until, type TestBroker } from './support.js';

const SECRETS: Record<string, string> = { 'fall-a-0001': 's3cret-fall', 'env-a-0001': 's3cret-env', 'ev-a-0009': 's3cret-ev' };

describe('SimDevice against a real aedes broker', () => {
  let broker: TestBroker;
  const devices: SimDevice[] = [];
  beforeAll(async () => {
    broker = await startBroker((u, p) => u === 'test' || SECRETS[u] === p);
  });
  afterAll(async () => {
    await Promise.all(devices.map((d) => d.close()));
    await broker.close();
  });
  const make = (deviceId: string, kind: 1 | 2 | 3 | 4, secret = SECRETS[deviceId] ?? '', qos: 0 | 1 = 1): SimDevice => {
    const d = new SimDevice({ mqttUrl: broker.url, deviceId, site: 'a', kind, secret, qos, reconnectMinMs: 50, reconnectMaxMs: 200 }, logger);
    devices.push(d);
    return d;
  };

  it('publishes birth presence, then telemetry and events sharing one increasing seq', async () => {
    const addr = { site: 'a', kind: DeviceKind.FALL_SENSOR, deviceId: 'fall-a-0001' } as const;
    const sub = await subscriber(broker.url, [deviceTopic(addr, Channel.Telemetry), deviceTopic(addr, Channel.Event), deviceTopic(addr, Channel.Presence)]);
    const device = make('fall-a-0001', DeviceKind.FALL_SENSOR);
    await device.start();
    expect(device.connected).toBe(true);
    const model = createDeviceModel(DeviceKind.FALL_SENSOR, 3, Date.UTC(2025, 0, 1), { fallSensor: { forceFallAt: Date.UTC(2025, 0, 1) + 3000 } });
    for (let i = 0; i < 10; i++) {
      const step = model.step(1000);
      expect(await device.publishTelemetry(step.reading, step.tsMs)).toBe(true);
      for (const e of step.events) expect(await device.publishEvent(e, step.tsMs)).toBe(true);
    }
    await until(() => sub.messages.filter((m) => !m.topic.endsWith('presence')).length >= 11, 'telemetry and event');
    const birth = sub.messages.find((m) => m.topic.endsWith('/presence'));
    expect(birth && Presence.decode(birth.payload)).toMatchObject({ online: true, reason: 'birth', deviceId: 'fall-a-0001' });

    const seqs: number[] = [];
    for (const m of sub.messages) {
      if (m.topic.endsWith('/telemetry')) {
        const t = Telemetry.decode(m.payload);
        expect(t.header).toMatchObject({ deviceId: 'fall-a-0001', kind: DeviceKind.FALL_SENSOR, firmwareVersion: '0.1.0-sim' });
        expect(t.reading).toBe('fallSensor');
        seqs.push(t.header!.seq);
      } else if (m.topic.endsWith('/event')) {
        const e = Event.decode(m.payload);
        expect(e.type).toBe('fall.detected');
        expect(e.severity).toBe(Severity.WARNING);
        seqs.push(e.header!.seq);
      }
    }
    expect(seqs.length).toBe(11);
    expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 11 }, (_, i) => seqs[0]! + i));
    await sub.client.endAsync();
  });

  it('the broker fires the retained will when the socket dies, and the device comes back', async () => {
    const addr = { site: 'a', kind: DeviceKind.ENV_MONITOR, deviceId: 'env-a-0001' } as const;
    const device = make('env-a-0001', DeviceKind.ENV_MONITOR);
    await device.start();
    const sub = await subscriber(broker.url, [deviceTopic(addr, Channel.Presence)]);
    await until(() => sub.messages.length >= 1, 'retained birth');
    device.dropConnection();
    const presences = (): Presence[] => sub.messages.map((m) => Presence.decode(m.payload));
    const will = await until(() => presences().find((p) => !p.online), 'will');
    expect(will).toMatchObject({ online: false, reason: 'will', deviceId: 'env-a-0001', kind: DeviceKind.ENV_MONITOR });
    // Reconnects with its own backoff and re-announces itself.
    await until(() => presences().filter((p) => p.online && p.reason === 'birth').length >= 2, 'rebirth');
    await until(() => device.connected, 'reconnected');
    expect(device.stats.connects).toBeGreaterThanOrEqual(2);

    await device.close();
    const last = await until(() => presences().at(-1)?.reason === 'shutdown' && presences().at(-1), 'shutdown presence');
    expect(last.online).toBe(false);
    await sub.client.endAsync();
  });

  it('answers reboot with ACCEPTED then SUCCEEDED and unknown commands with REJECTED, once per command id', async () => {
    const addr = { site: 'a', kind: DeviceKind.EV_CHARGER, deviceId: 'ev-a-0009' } as const;
    const device = make('ev-a-0009', DeviceKind.EV_CHARGER);
    await device.start();
    const sub = await subscriber(broker.url, [deviceTopic(addr, Channel.CommandResult)]);
    const send = (commandId: string, name: string): Promise<unknown> =>
      sub.client.publishAsync(deviceTopic(addr, Channel.Command), Buffer.from(Command.encode({ commandId, name, issuedMs: Date.now() })), { qos: 1 });
    await send('c-1', 'reboot');
    await send('c-1', 'reboot'); // redelivery: must not execute twice
    await send('c-2', 'charger.self_destruct');
    await send('c-3', 'reboot');
    const results = (): CommandResult[] => sub.messages.map((m) => CommandResult.decode(m.payload));
    await until(() => results().length >= 5, 'five command results');
    const byId = (id: string): CommandStatus[] => results().filter((r) => r.commandId === id).map((r) => r.status);
    expect(byId('c-1')).toEqual([CommandStatus.ACCEPTED, CommandStatus.SUCCEEDED]);
    expect(byId('c-2')).toEqual([CommandStatus.REJECTED]);
    expect(byId('c-3')).toEqual([CommandStatus.ACCEPTED, CommandStatus.SUCCEEDED]);
    expect(results().every((r) => r.header?.deviceId === 'ev-a-0009')).toBe(true);
    expect(device.stats.commands).toBe(3);
    await sub.client.endAsync();
  });

  it('rejects start() with a typed auth error on a wrong secret', async () => {
    const device = make('ev-a-0009', DeviceKind.EV_CHARGER, 'wrong');
    const err = await device.start().then(() => undefined, (e: unknown) => e as SimError);
    expect(err?.code).toBe(SimErrorCode.MqttAuth);
    expect(err?.message).toContain('ev-a-0009');
    await device.close();
  });

  it('refuses invalid device ids up front', () => {
    expect(() => make('bad/id', DeviceKind.EV_CHARGER)).toThrow(/device id/);
  });
});
