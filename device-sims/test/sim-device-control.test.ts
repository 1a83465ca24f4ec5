import {
  Channel, Command, CommandResult, CommandStatus, DeviceKind, Presence, Telemetry, TwinDesired, TwinReported, deviceTopic,
} from '@yulan/protos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimDevice, createDeviceModel } from '../src/index.js';
import { logger, startBroker, subscriber, until, type TestBroker } from './support.js';

const T0 = Date.UTC(2025, 0, 6, 2, 0);

/** The test client plays the cloud: it publishes cmd and a retained twin-desired, and reads
 * cmd-result, twin-reported, presence and telemetry like the control service would. */
describe('SimDevice control against a real aedes broker', () => {
  let broker: TestBroker;
  const stops: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    broker = await startBroker((u, p) => u === 'test' || p === `secret-${u}`);
  });
  afterAll(async () => {
    for (const stop of stops) await stop();
    await broker.close();
  });

  /** A device whose model steps every 100 ms (simulated 1 s) and publishes like the fleet. */
  async function startDevice(deviceId: string, kind: 1 | 2 | 3 | 4, opts: Partial<ConstructorParameters<typeof SimDevice>[0]> = {}) {
    const model = createDeviceModel(kind, 11, T0, {
      evCharger: { model: 'ac7', sessionsPerDay: 0, faultsPerDay: 0, unavailablePerDay: 0 },
      parcelLocker: { compartments: 8, depositsPerCompartmentDay: 0, tampersPerDay: 0 },
    });
    const device = new SimDevice({
      mqttUrl: broker.url, deviceId, site: 'a', kind, secret: `secret-${deviceId}`, qos: 1, model,
      reconnectMinMs: 50, reconnectMaxMs: 200, rebootDelayMs: 300, commandTiming: { execMs: 20 }, ...opts,
    }, logger);
    await device.start();
    const timer = setInterval(() => {
      const step = model.step(1000);
      if (step.silent) return;
      for (const e of step.events) void device.publishEvent(e, step.tsMs);
      void device.publishTelemetry(step.reading, step.tsMs);
    }, 100);
    stops.push(async () => {
      clearInterval(timer);
      await device.close();
    });
    return { device, model };
  }

  it('applies the retained desired twin on connect, reports it, and runs locker commands confirmed by telemetry', async () => {
    const addr = { site: 'a', kind: DeviceKind.PARCEL_LOCKER, deviceId: 'locker-a-0001' } as const;
    const cloud = await subscriber(broker.url, [Channel.CommandResult, Channel.TwinReported, Channel.Telemetry].map((c) => deviceTopic(addr, c)));
    // Desired state published (retained) while the device is offline.
    await cloud.client.publishAsync(deviceTopic(addr, Channel.TwinDesired), Buffer.from(TwinDesired.encode({
      version: 7, issuedMs: Date.now(), settings: { kind: 'parcelLocker', parcelLocker: { tempMinC: 1, tempMaxC: 99 } },
    })), { qos: 1, retain: true });
    const { device } = await startDevice(addr.deviceId, DeviceKind.PARCEL_LOCKER);
    const reports = (): TwinReported[] => cloud.messages.filter((m) => m.topic.endsWith('/twin-reported')).map((m) => TwinReported.decode(m.payload));
    const v7 = await until(() => reports().find((r) => r.appliedVersion === 7), 'twin report v7');
    expect(v7.error).toContain('temp_max_c 99');
    expect(v7.settings?.parcelLocker).toEqual({ tempMinC: 1, tempMaxC: 7 });
    expect(v7.header?.deviceId).toBe(addr.deviceId);

    const send = (commandId: string, name: string, args: Record<string, string> = {}): Promise<unknown> =>
      cloud.client.publishAsync(deviceTopic(addr, Channel.Command), Buffer.from(Command.encode({ commandId, name, args, issuedMs: Date.now(), expiresMs: 0 })), { qos: 1 });
    await send('open-1', 'locker.open', { compartment: '5' });
    await send('open-1', 'locker.open', { compartment: '5' }); // redelivered
    await send('bad-1', 'locker.open', { compartment: 'five' });
    await send('old-1', 'locker.clear', { compartment: '1' });
    await cloud.client.publishAsync(deviceTopic(addr, Channel.Command), Buffer.from([0xff, 0xff, 0xff]), { qos: 1 }); // garbage
    const results = (): CommandResult[] => cloud.messages.filter((m) => m.topic.endsWith('/cmd-result')).map((m) => CommandResult.decode(m.payload));
    const byId = (id: string): CommandStatus[] => results().filter((r) => r.commandId === id).map((r) => r.status);
    await until(() => byId('old-1').length >= 2 && byId('open-1').length >= 2, 'results');
    expect(byId('open-1')).toEqual([CommandStatus.ACCEPTED, CommandStatus.SUCCEEDED]);
    expect(byId('bad-1')).toEqual([CommandStatus.REJECTED]);
    expect(results().find((r) => r.commandId === 'bad-1')?.message).toContain('compartment');
    // Confirmed by the device's own telemetry.
    await until(() => cloud.messages.some((m) => m.topic.endsWith('/telemetry')
      && Telemetry.decode(m.payload).parcelLocker?.compartments.find((c) => c.index === 5)?.doorOpen), 'door 5 open in telemetry');
    await until(() => device.stats.malformed === 1, 'malformed counted');
    expect(device.connected).toBe(true);
    await cloud.client.endAsync();
  });

  it('an MQTT-native charger refuses the OCPP-only commands, saying why', async () => {
    const addr = { site: 'a', kind: DeviceKind.EV_CHARGER, deviceId: 'ev-a-0004' } as const;
    await startDevice(addr.deviceId, DeviceKind.EV_CHARGER);
    const cloud = await subscriber(broker.url, [deviceTopic(addr, Channel.CommandResult)]);
    const expiry = new Date(Date.now() + 600_000).toISOString();
    for (const [commandId, name, args] of [['rn-1', 'charger.reserve_now', { connector_id: '1', id_tag: 'T1', expiry }], ['cr-1', 'charger.cancel_reservation', { reservation_id: '1' }], ['cc-1', 'charger.clear_cache', {}]] as const) {
      await cloud.client.publishAsync(deviceTopic(addr, Channel.Command), Buffer.from(Command.encode({ commandId, name, args, issuedMs: Date.now(), expiresMs: 0 })), { qos: 1 });
    }
    const results = (): CommandResult[] => cloud.messages.map((m) => CommandResult.decode(m.payload));
    await until(() => results().length >= 3, 'three answers');
    for (const r of results()) {
      expect(r.status).toBe(CommandStatus.REJECTED);
      expect(r.message).toContain('is an OCPP command (docs/ocpp.md): this charger speaks MQTT, not OCPP');
    }
    await cloud.client.endAsync();
  });

  it('reboot: ACCEPTED, offline presence, new birth, then SUCCEEDED; injected timeout never answers', async () => {
    const addr = { site: 'a', kind: DeviceKind.ENV_MONITOR, deviceId: 'env-a-0002' } as const;
    const { device } = await startDevice(addr.deviceId, DeviceKind.ENV_MONITOR);
    const cloud = await subscriber(broker.url, [Channel.CommandResult, Channel.Presence].map((c) => deviceTopic(addr, c)));
    await until(() => cloud.messages.length >= 1, 'retained birth');
    const t0 = Date.now();
    await cloud.client.publishAsync(deviceTopic(addr, Channel.Command), Buffer.from(Command.encode({ commandId: 'rb-1', name: 'reboot', args: {}, issuedMs: t0, expiresMs: 0 })), { qos: 1 });
    const seen = (): string[] => cloud.messages.map((m) => m.topic.endsWith('/presence')
      ? `presence:${Presence.decode(m.payload).reason}` : `result:${CommandResult.decode(m.payload).status}`);
    await until(() => seen().includes(`result:${CommandStatus.SUCCEEDED}`), 'reboot succeeded');
    expect(seen().slice(1)).toEqual(['result:1', 'presence:reboot', 'presence:birth', 'result:2']);
    expect(device.stats.connects).toBe(2);
    await cloud.client.endAsync();
  });

  it('a device with timeout failures stays silent; firmware.update is refused until a firmware module is plugged in', async () => {
    const addr = { site: 'a', kind: DeviceKind.FALL_SENSOR, deviceId: 'fall-a-0003' } as const;
    await startDevice(addr.deviceId, DeviceKind.FALL_SENSOR, { commandFailures: { timeout: 1 } });
    const cloud = await subscriber(broker.url, [deviceTopic(addr, Channel.CommandResult)]);
    const send = (commandId: string, name: string): Promise<unknown> =>
      cloud.client.publishAsync(deviceTopic(addr, Channel.Command), Buffer.from(Command.encode({ commandId, name, args: {}, issuedMs: Date.now(), expiresMs: 0 })), { qos: 1 });
    await send('t-1', 'fall.test_alarm');
    await send('fw-1', 'firmware.update');
    const results = (): CommandResult[] => cloud.messages.map((m) => CommandResult.decode(m.payload));
    await until(() => results().some((r) => r.commandId === 'fw-1'), 'firmware answer');
    await new Promise((r) => setTimeout(r, 300));
    expect(results().map((r) => [r.commandId, r.status, r.message])).toEqual([
      ['fw-1', CommandStatus.REJECTED, 'firmware updates not supported by this simulator'],
    ]);
    await cloud.client.endAsync();
  });
});
