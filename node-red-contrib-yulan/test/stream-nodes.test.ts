import { execFileSync } from 'node:child_process';
import fs, { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DeviceKind, Event, Severity, Telemetry, type KnownKind } from '@yulan/protos';
import { startBroker, type BrokerHandle } from '../../broker/src/index.js';
import { FakeDeviceAuth, logger, mqttClient, tempDir, testConfig, waitFor } from '../../broker/test/helpers.js';
import { FakeIntegrationAuth } from '../../broker/test/integration-support.js';

const require = createRequire(import.meta.url);
// node-red-node-test-helper runs the real Node-RED runtime (flows, wiring, credentials).
const helper = require('node-red-node-test-helper') as {
  init(path: string): void;
  startServer(): Promise<void>;
  stopServer(): Promise<void>;
  load(nodes: unknown, flow: object[], creds?: Record<string, object>): Promise<void>;
  unload(): Promise<void>;
  getNode(id: string): NodeLike;
};
interface NodeLike {
  on(ev: 'input', fn: (msg: Record<string, unknown>) => void): void;
  on(ev: 'call:status' | 'call:error', fn: (call: { args: unknown[] }) => void): void;
  receive(msg: Record<string, unknown>): void;
}
helper.init(require.resolve('node-red'));
// The package as Node-RED loads it: nodes/yulan.js → dist/ (run `npx tsc -b` first).
const yulanNodes: unknown = require('../nodes/yulan.js');
const functionNode: unknown = require('@node-red/nodes/core/function/10-function.js');

interface Dev { deviceId: string; site: string; kind: KnownKind }
const EM: Dev = { deviceId: 'em-1', site: 'xuhui', kind: DeviceKind.ENV_MONITOR };
const CH: Dev = { deviceId: 'ch-1', site: 'xuhui', kind: DeviceKind.EV_CHARGER };
const LK: Dev = { deviceId: 'lk-1', site: 'pudong', kind: DeviceKind.PARCEL_LOCKER };

describe('yulan telemetry, event and publish nodes (Node-RED runtime, real broker)', () => {
  const dir = tempDir('node-red');
  const devices = new FakeDeviceAuth();
  const integrations = new FakeIntegrationAuth();
  let broker: BrokerHandle;
  let url: string;
  const clients: MqttClient[] = [];
  const device = async (d: Dev): Promise<MqttClient> => {
    const c = await mqttClient(url, { clientId: d.deviceId, username: d.deviceId, password: `secret-${d.deviceId}` });
    clients.push(c);
    return c;
  };
  const config = (extra: object = {}) => ({ id: 'cfg', type: 'yulan-config', broker: url, api: '', ...extra });
  const creds = { cfg: { account: 'nodered', secret: 'secret-nodered' } };

  beforeAll(async () => {
    devices.add(EM.deviceId, { site: EM.site, kind: EM.kind });
    devices.add(CH.deviceId, { site: CH.site, kind: CH.kind });
    integrations.add({ name: 'nodered', rules: [{ filter: 'yulan/v1/xuhui/+/+/+', read: true, write: false }], namespace: true, healthGrant: false });
    integrations.add({ name: 'ops', rules: [{ filter: 'yulan/v1/+/+/+/event', read: true, write: false }], namespace: true, healthGrant: false });
    devices.add(LK.deviceId, { site: LK.site, kind: LK.kind });
    broker = await startBroker(await testConfig(dir), logger, { deviceAuth: devices, integrationAuth: integrations });
    url = `mqtt://127.0.0.1:${broker.mqttPort}`;
    await helper.startServer();
  });
  afterEach(async () => {
    await helper.unload();
  });
  afterAll(async () => {
    await helper.stopServer();
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await broker?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const connected = (id: string): Promise<void> => new Promise((resolve) => {
    helper.getNode(id).on('call:status', (call) => {
      if ((call.args[0] as { fill?: string }).fill === 'green') resolve();
    });
  });

  it('yulan telemetry: decoded readings, filtered by kind; undecodable ones counted, not passed on', async () => {
    await helper.load(yulanNodes, [config(), { id: 't1', type: 'yulan-telemetry', yulan: 'cfg', site: 'xuhui', kind: 'env-monitor', wires: [['out']] }, { id: 'out', type: 'helper' }], creds);
    const got: Record<string, unknown>[] = [];
    helper.getNode('out').on('input', (msg) => got.push(msg));
    const errors: unknown[] = [];
    helper.getNode('t1').on('call:error', (c) => errors.push(c.args[0]));
    await connected('t1');
    const em = await device(EM);
    const ch = await device(CH);
    // Subscriptions are made right after the connect: publish until the first one arrives.
    await waitFor(() => {
      void em.publishAsync('yulan/v1/xuhui/env-monitor/em-1/telemetry', Buffer.from(Telemetry.encode({ header: { deviceId: 'em-1', kind: EM.kind, seq: 1, tsMs: 1 }, envMonitor: { pm25Ugm3: 88 } })), { qos: 1 });
      return got.length > 0;
    }, 'a decoded reading');
    expect(got[0]).toMatchObject({ topic: 'yulan/v1/xuhui/env-monitor/em-1/telemetry', site: 'xuhui', kind: 'env-monitor', deviceId: 'em-1', payload: { envMonitor: { pm25Ugm3: 88 }, header: { deviceId: 'em-1', kind: 'DEVICE_KIND_ENV_MONITOR' } } });
    const before = got.length;
    await ch.publishAsync('yulan/v1/xuhui/ev-charger/ch-1/telemetry', Buffer.from(Telemetry.encode({ evCharger: { powerW: 7000 } })), { qos: 1 });
    await em.publishAsync('yulan/v1/xuhui/env-monitor/em-1/telemetry', Buffer.from([0xff, 0xff, 0xff]), { qos: 1 });
    await waitFor(() => errors.length === 1, 'the undecodable message reported');
    await em.publishAsync('yulan/v1/xuhui/env-monitor/em-1/telemetry', Buffer.from(Telemetry.encode({ envMonitor: { pm25Ugm3: 5 } })), { qos: 1 });
    await waitFor(() => got.length > before && got.some((m) => (m.payload as { envMonitor?: { pm25Ugm3?: number } }).envMonitor?.pm25Ugm3 === 5), 'the next reading');
    expect(got.every((m) => m.kind === 'env-monitor')).toBe(true);
    expect(String(errors[0])).toContain('yulan/v1/xuhui/env-monitor/em-1/telemetry');
  });

  it('yulan event: type and minimum severity filters', async () => {
    await helper.load(yulanNodes, [config(), { id: 'e1', type: 'yulan-event', yulan: 'cfg', site: 'xuhui', minSeverity: 'SEVERITY_WARNING', wires: [['out']] }, { id: 'out', type: 'helper' }], creds);
    const got: Record<string, unknown>[] = [];
    helper.getNode('out').on('input', (msg) => got.push(msg));
    await connected('e1');
    const ch = await device(CH);
    const ev = (type: string, severity: Severity): Buffer => Buffer.from(Event.encode({ header: { deviceId: 'ch-1', kind: CH.kind, seq: 2, tsMs: 2 }, type, severity, message: type }));
    await waitFor(() => {
      void ch.publishAsync('yulan/v1/xuhui/ev-charger/ch-1/event', ev('info-note', Severity.INFO), { qos: 1 });
      void ch.publishAsync('yulan/v1/xuhui/ev-charger/ch-1/event', ev('charger.fault', Severity.CRITICAL), { qos: 1 });
      return got.length > 0;
    }, 'a critical event');
    expect(got.every((m) => (m.payload as { type: string }).type === 'charger.fault')).toBe(true);
    expect(got[0]).toMatchObject({ deviceId: 'ch-1', payload: { severity: 'SEVERITY_CRITICAL' } });
  });

  it('shows "not allowed" when the account\'s rules do not cover the filter', async () => {
    await helper.load(yulanNodes, [config(), { id: 't2', type: 'yulan-telemetry', yulan: 'cfg', site: 'pudong', wires: [[]] }], creds);
    // The test helper loads no message catalogue, so the status text is the message key.
    const refused = await new Promise<{ fill?: string; text?: string }>((resolve) => helper.getNode('t2').on('call:status', (c) => {
      const s = c.args[0] as { fill?: string; text?: string };
      if (String(s.text).includes('sub-refused')) resolve(s);
    }));
    expect(refused.fill).toBe('red');
  });

  it('yulan publish: into ext/<account>/… only; a wildcard topic is an error', async () => {
    const watcher = await mqttClient(url, { clientId: 'int:watch:1', username: 'int:watch', password: 'secret-watch' }).catch(() => undefined);
    expect(watcher).toBeUndefined(); // no such account: refused
    integrations.add({ name: 'watch', rules: [{ filter: 'ext/nodered/#', read: true, write: false }], namespace: false, healthGrant: false });
    const w = await mqttClient(url, { clientId: 'int:watch:2', username: 'int:watch', password: 'secret-watch' });
    clients.push(w);
    const seen: string[] = [];
    w.on('message', (t, p) => seen.push(`${t}=${p.toString()}`));
    await w.subscribeAsync('ext/nodered/#', { qos: 1 });
    await helper.load(yulanNodes, [config(), { id: 'p1', type: 'yulan-publish', yulan: 'cfg', topic: '', qos: '1', wires: [['out']] }, { id: 'out', type: 'helper' }], creds);
    const out: Record<string, unknown>[] = [];
    helper.getNode('out').on('input', (msg) => out.push(msg));
    const errors: unknown[] = [];
    helper.getNode('p1').on('call:error', (c) => errors.push(c.args[0]));
    await connected('p1');
    helper.getNode('p1').receive({ topic: 'alerts/pm25', payload: { pm25: 88 } });
    await waitFor(() => seen.length === 1, 'the publish at the watcher');
    expect(seen[0]).toBe('ext/nodered/alerts/pm25={"pm25":88}');
    expect(out[0]?.topic).toBe('ext/nodered/alerts/pm25');
    helper.getNode('p1').receive({ topic: 'a/#', payload: 'x' });
    await waitFor(() => errors.length === 1, 'the wildcard refused');
  });

  it('the vendored protobuf descriptor matches protos/proto', () => {
    expect(execFileSync('node', ['node-red-contrib-yulan/scripts/vendor-protos.mjs', '--check'], { encoding: 'utf8' })).toContain('up to date');
  });

  // The two shipped event flows, as a user deploys them (connection filled in, debug nodes left out).
  for (const [file, dev, topic, event, expected] of [
    ['charger-fault-maintenance.json', CH, 'ext/ops/maintenance/charger-fault', 'charger.fault',
      { kind: 'maintenance', device: 'ch-1', site: 'xuhui', code: 'E07', severity: 'SEVERITY_CRITICAL' }],
    ['locker-door-notification.json', LK, 'ext/ops/notifications/locker-door', 'locker.door_ajar',
      { title: 'Locker door left open', device: 'lk-1', site: 'pudong', compartment: '3' }],
  ] as const) {
    it(`shipped example ${file}: the event becomes a message in the account's namespace`, async () => {
      const w = await mqttClient(url, { clientId: 'int:ops:watch', username: 'int:ops', password: 'secret-ops' });
      clients.push(w);
      const seen: Record<string, unknown>[] = [];
      w.on('message', (t, p) => { if (t === topic) seen.push(JSON.parse(p.toString()) as Record<string, unknown>); });
      await w.subscribeAsync('ext/ops/#', { qos: 1 });
      const flow = (JSON.parse(readFileSync(new URL(`../examples/${file}`, import.meta.url), 'utf8')) as Record<string, unknown>[])
        .filter((n) => n.type !== 'debug' && n.type !== 'tab')
        .map((n) => (n.type === 'yulan-config' ? { ...n, broker: url } : n));
      await helper.load([functionNode, yulanNodes], flow, { 'yulan-cfg': { account: 'ops', secret: 'secret-ops' } });
      const d = await device(dev);
      const kind = dev.kind;
      const slug = kind === DeviceKind.EV_CHARGER ? 'ev-charger' : 'parcel-locker';
      const ev = Buffer.from(Event.encode({ header: { deviceId: dev.deviceId, kind, seq: 3, tsMs: 3 }, type: event, severity: Severity.CRITICAL,
        message: 'from the test', attributes: { fault_code: 'E07', compartment: '3' } }));
      await waitFor(() => {
        void d.publishAsync(`yulan/v1/${dev.site}/${slug}/${dev.deviceId}/event`, ev, { qos: 1 });
        return seen.length > 0;
      }, `${topic} message`);
      expect(seen[0]).toMatchObject(expected);
    });
  }
});
