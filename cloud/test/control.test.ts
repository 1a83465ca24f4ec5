import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Channel, Command, CommandResult, CommandStatus, ConnectorStatus, DeviceKind, Presence, Telemetry, TwinDesired, TwinReported, deviceTopic,
} from '@yulan/protos';
import { loadCloudConfig } from '../src/config.js';
import { startCloud, type CloudHandle } from '../src/start.js';
import { cloudEnv, silentLogger, startBroker, startEdgeStub, tempDir, waitFor, type EdgeStub, type TestBroker } from './helpers.js';

/** Twins and commands end to end: real aedes, real MQTT clients playing devices, real SQLite. */
const users: Record<string, string> = { cloud: 'cloud-pass', ops: 'ops-pass', 'ch-1': 'x', 'ch-2': 'x', 'ch-3': 'x' };
const SITE = 'xuhui';
const addr = (id: string) => ({ site: SITE, kind: DeviceKind.EV_CHARGER, deviceId: id });
let broker: TestBroker; let edge: EdgeStub; let cloud: CloudHandle; let ops: MqttClient;
const tmp = tempDir('yulan-control-');
let env: Record<string, string>; let token = '';
const clients: MqttClient[] = [];

type Cmd = { id: string; status: string; message: string | null; transitions: { status: string }[] };
async function api(path: string, init: RequestInit & { json?: unknown } = {}): Promise<Response> {
  const { json, ...rest } = init;
  return fetch(cloud.url + path, { ...rest, ...(json !== undefined ? { body: JSON.stringify(json) } : {}), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...rest.headers } });
}
const command = async (id: string): Promise<Cmd> => (await (await api(`/api/v1/commands/${id}`)).json()) as Cmd;
const until = (id: string, status: string) => waitFor(async () => { const c = await command(id); return c.status === status ? c : undefined; }, `${id} ${status}`);
function presence(id: string, online: boolean): Promise<unknown> {
  return ops.publishAsync(deviceTopic(addr(id), Channel.Presence), Buffer.from(Presence.encode({ deviceId: id, kind: DeviceKind.EV_CHARGER, online, tsMs: Date.now(), reason: online ? 'birth' : 'will' })), { qos: 1, retain: true });
}

/** A charger played by a real MQTT client: records commands and twin states it receives. */
async function charger(id: string) {
  const c = await mqtt.connectAsync(broker.url, { clientId: id, username: id, password: 'x' });
  clients.push(c);
  const commands: Command[] = []; const desired: TwinDesired[] = [];
  let seq = 1;
  c.on('message', (topic, p) => {
    if (topic.endsWith('/cmd')) commands.push(Command.decode(p));
    if (topic.endsWith('/twin-desired')) desired.push(TwinDesired.decode(p));
  });
  await c.subscribeAsync([deviceTopic(addr(id), Channel.Command), deviceTopic(addr(id), Channel.TwinDesired)], { qos: 1 });
  const header = () => ({ deviceId: id, kind: DeviceKind.EV_CHARGER, seq: seq++, tsMs: Date.now() });
  return {
    client: c, commands, desired,
    result: (commandId: string, status: CommandStatus, message = '') => c.publishAsync(deviceTopic(addr(id), Channel.CommandResult), Buffer.from(CommandResult.encode({ header: header(), commandId, status, message })), { qos: 1 }),
    telemetry: (r: { status: ConnectorStatus; currentA: number }) => c.publishAsync(deviceTopic(addr(id), Channel.Telemetry), Buffer.from(Telemetry.encode({ header: header(), evCharger: { connectorId: 1, ...r } })), { qos: 1 }),
    reported: (appliedVersion: number, currentLimitA: number) => c.publishAsync(deviceTopic(addr(id), Channel.TwinReported), Buffer.from(TwinReported.encode({ header: header(), appliedVersion, settings: { evCharger: { currentLimitA } } })), { qos: 1 }),
  };
}

beforeAll(async () => {
  broker = await startBroker(users);
  edge = await startEdgeStub();
  env = cloudEnv(tmp.dir, broker, edge, users.cloud!);
  cloud = await startCloud(loadCloudConfig(env), silentLogger, { dashboardDir: null });
  token = cloud.adminToken ?? '';
  ops = await mqtt.connectAsync(broker.url, { username: 'ops', password: users.ops!, clientId: 'ops' });
  await waitFor(async () => ((await (await fetch(`${cloud.url}/healthz`)).json()) as { mqtt: boolean }).mqtt, 'cloud mqtt connected');
  for (const id of ['ch-1', 'ch-2', 'ch-3', 'ch-off']) {
    expect((await api('/api/v1/devices', { method: 'POST', json: { id, site: SITE, kind: 'ev-charger' } })).status).toBe(201);
  }
});
afterAll(async () => {
  await Promise.all([...clients, ops].map((c) => c?.endAsync(true)));
  await cloud?.close(); await broker?.close(); await edge?.close();
  tmp.cleanup();
});

describe('device twin', () => {
  it('versions desired state, refuses a stale update with the current version, shows the delta', async () => {
    const put = (body: unknown, headers: Record<string, string> = {}) => api('/api/v1/devices/ch-1/twin/desired', { method: 'PUT', json: body, headers });
    const r1 = await put({ settings: { current_limit_a: 16 } }, { 'if-match': '"0"' });
    expect(r1.status).toBe(200);
    expect(((await r1.json()) as { desired: { version: number } }).desired.version).toBe(1);
    const stale = await put({ settings: { current_limit_a: 20 }, version: 0 });
    expect(stale.status).toBe(409);
    expect(await stale.json()).toMatchObject({ code: 'E_CONFLICT', currentVersion: 1 });
    expect((await put({ settings: { current_limit_a: 99 } })).status).toBe(400);
    const bad = await put({ settings: { sensitivity: 3 } });
    expect(((await bad.json()) as { message: string }).message).toMatch(/sensitivity/);
    const twin = (await (await api('/api/v1/devices/ch-1/twin')).json()) as { delta: unknown; inSync: boolean };
    expect(twin.delta).toEqual({ current_limit_a: { desired: 16, reported: null } });
    expect(twin.inSync).toBe(false);
  });

  it('a device that connects later gets the retained desired state; its report clears the delta', async () => {
    const dev = await charger('ch-1');
    const d = await waitFor(() => dev.desired.find((x) => x.version === 1), 'retained desired at ch-1');
    expect(d.settings?.evCharger?.currentLimitA).toBe(16);
    await dev.reported(1, 16);
    await waitFor(async () => ((await (await api('/api/v1/devices/ch-1/twin')).json()) as { inSync: boolean }).inSync, 'twin in sync');
  });
});

describe('commands', () => {
  it('succeeds only when telemetry shows the effect; ack without effect fails; rejected fails', async () => {
    await presence('ch-2', true);
    const dev = await charger('ch-2');
    const post = (name: string, args: Record<string, unknown>, timeoutSec = 30) => api('/api/v1/devices/ch-2/commands', { method: 'POST', json: { name, args, timeoutSec } });
    const r = await post('charger.set_current_limit', { limit_a: '10' });
    expect(r.status).toBe(201);
    const ok = (await r.json()) as Cmd;
    const wire = await waitFor(() => dev.commands.find((c) => c.commandId === ok.id), 'command at device');
    expect(wire.args).toEqual({ limit_a: '10' });
    await dev.result(ok.id, CommandStatus.ACCEPTED);
    await until(ok.id, 'acknowledged');
    await dev.telemetry({ status: ConnectorStatus.CHARGING, currentA: 9.5 });
    const done = await until(ok.id, 'succeeded');
    expect(done.transitions.map((t) => t.status)).toEqual(['queued', 'sent', 'acknowledged', 'succeeded']);

    const noEffect = (await (await post('charger.change_availability', { available: false }, 1)).json()) as Cmd;
    await waitFor(() => dev.commands.find((c) => c.commandId === noEffect.id), 'second command');
    await dev.result(noEffect.id, CommandStatus.ACCEPTED);
    await dev.telemetry({ status: ConnectorStatus.AVAILABLE, currentA: 0 });
    expect((await until(noEffect.id, 'failed')).message).toBe('no effect');

    const rej = (await (await post('charger.stop_session', { connector_id: 1 })).json()) as Cmd;
    await waitFor(() => dev.commands.find((c) => c.commandId === rej.id), 'third command');
    await dev.result(rej.id, CommandStatus.REJECTED, 'no session');
    expect((await until(rej.id, 'failed')).message).toBe('rejected: no session');
  });

  it('times out without an answer; malformed results are counted, not fatal', async () => {
    const c = (await (await api('/api/v1/devices/ch-2/commands', { method: 'POST', json: { name: 'reboot', timeoutSec: 1 } })).json()) as Cmd;
    await ops.publishAsync(deviceTopic(addr('ch-2'), Channel.CommandResult), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), { qos: 1 });
    await ops.publishAsync(deviceTopic(addr('ch-2'), Channel.TwinReported), Buffer.from([0x0a, 0x50, 0x01]), { qos: 1 });
    expect((await until(c.id, 'timed_out')).message).toMatch(/no answer/);
    // The timeout runs on the cloud's clock; it says nothing of when the two messages arrived:
    // wait for them to be counted rather than reading the counters once.
    const m = await waitFor(async () => {
      const r = (await (await api('/api/v1/control/metrics')).json()) as { malformed: { cmdResult: number; twinReported: number } };
      return r.malformed.cmdResult >= 1 && r.malformed.twinReported >= 1 ? r : undefined;
    }, 'both malformed messages counted');
    expect(m.malformed).toMatchObject({ cmdResult: 1, twinReported: 1 });
  });

  it('queues for an offline device, delivers on presence, expires when too late; idempotent retry', async () => {
    const post = (body: unknown, key?: string) => api('/api/v1/devices/ch-3/commands', { method: 'POST', json: body, headers: key ? { 'idempotency-key': key } : {} });
    const q = (await (await post({ name: 'charger.start_session', args: { connector_id: 1, id_tag: 'TAG1' } }, 'k-1')).json()) as Cmd;
    expect(q.status).toBe('queued');
    const again = await post({ name: 'charger.start_session', args: { connector_id: '1', id_tag: 'TAG1' } }, 'k-1');
    expect(again.status).toBe(200);
    expect(((await again.json()) as Cmd).id).toBe(q.id);
    const late = (await (await post({ name: 'reboot', expiresInSec: 1 })).json()) as Cmd;
    await until(late.id, 'expired');
    const dev = await charger('ch-3');
    await presence('ch-3', true);
    await waitFor(() => dev.commands.find((c) => c.commandId === q.id), 'queued command delivered');
    await dev.result(q.id, CommandStatus.ACCEPTED);
    await dev.telemetry({ status: ConnectorStatus.CHARGING, currentA: 16 });
    await until(q.id, 'succeeded');
    expect(dev.commands.filter((c) => c.commandId === late.id)).toEqual([]);
  });

  it('rejects bad input with a clear 4xx and publishes nothing', async () => {
    const before = broker.published.filter((p) => p.topic.endsWith('/cmd')).length;
    const post = async (id: string, body: unknown) => { const r = await api(`/api/v1/devices/${id}/commands`, { method: 'POST', json: body }); return { status: r.status, body: (await r.json()) as { message: string } }; };
    expect(await post('ch-2', { name: 'charger.fly' })).toMatchObject({ status: 400, body: { message: expect.stringMatching(/unknown command "charger.fly"/) } });
    expect(await post('ch-2', { name: 'charger.set_current_limit', args: { limit_a: 'lots' } })).toMatchObject({ status: 400, body: { message: expect.stringMatching(/limit_a/) } });
    expect(await post('ch-2', { name: 'locker.open', args: { compartment: 1 } })).toMatchObject({ status: 400, body: { message: expect.stringMatching(/parcel-locker/) } });
    expect((await post('nope', { name: 'reboot' })).status).toBe(404);
    await api('/api/v1/devices/ch-off/disable', { method: 'POST' });
    expect((await post('ch-off', { name: 'reboot' })).status).toBe(409);
    expect(broker.published.filter((p) => p.topic.endsWith('/cmd')).length).toBe(before);
  });

  it('a pending timeout survives a cloud restart', async () => {
    const c = (await (await api('/api/v1/devices/ch-2/commands', { method: 'POST', json: { name: 'reboot', timeoutSec: 2 } })).json()) as Cmd;
    expect(c.status).toBe('sent');
    await cloud.close();
    cloud = await startCloud(loadCloudConfig(env), silentLogger, { dashboardDir: null });
    expect((await until(c.id, 'timed_out')).transitions.map((t) => t.status)).toEqual(['queued', 'sent', 'timed_out']);
  });
});
