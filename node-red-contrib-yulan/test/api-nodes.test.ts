import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runUp, type UpHandle } from '../../cli/src/up.js';
import { api, eventually, quietLogger, tempDir } from '../../cli/test/support.js';

const require = createRequire(import.meta.url);
const helper = require('node-red-node-test-helper') as {
  init(path: string): void;
  startServer(): Promise<void>;
  stopServer(): Promise<void>;
  load(nodes: unknown, flow: object[], creds?: Record<string, object>): Promise<void>;
  unload(): Promise<void>;
  getNode(id: string): { on(ev: 'input', fn: (msg: Record<string, unknown>) => void): void; receive(msg: Record<string, unknown>): void };
};
helper.init(require.resolve('node-red'));
// The package as Node-RED loads it: nodes/yulan.js → dist/ (run `npx tsc -b` first).
const yulanNodes: unknown = require('../nodes/yulan.js');
const functionNode: unknown = require('@node-red/nodes/core/function/10-function.js');

interface Msg { payload?: unknown; error?: { code: string; message: string }; [k: string]: unknown }

// A live platform (`yulan up` with simulated devices, one per kind). The alert node: alert-node.test.ts.
describe('yulan command and twin nodes with a scoped API token (Node-RED runtime, live stack)', () => {
  const tmp = tempDir('yulan-nr-api-');
  let up: UpHandle;
  let base: string;
  let admin: string;
  let token: string;
  let envMonitor: string;
  const flow = (nodes: object[]) => [{ id: 'cfg', type: 'yulan-config', broker: 'mqtt://127.0.0.1:9', api: base }, ...nodes, { id: 'ok', type: 'helper' }, { id: 'bad', type: 'helper' }];
  const creds = () => ({ cfg: { token } });
  const outputs = (): { ok: Msg[]; bad: Msg[] } => {
    const o = { ok: [] as Msg[], bad: [] as Msg[] };
    helper.getNode('ok').on('input', (m) => o.ok.push(m));
    helper.getNode('bad').on('input', (m) => o.bad.push(m));
    return o;
  };

  beforeAll(async () => {
    up = await runUp({
      YULAN_DATA_DIR: tmp.dir, YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0',
      YULAN_MQTT_HOST: '127.0.0.1', YULAN_HTTP_HOST: '127.0.0.1', YULAN_SIM_DEVICES: '1', YULAN_SIM_RATE: '1', YULAN_SIM_SITES: 'lab',
    }, quietLogger, () => {});
    base = `http://127.0.0.1:${up.httpPort}`;
    admin = up.adminToken!;
    envMonitor = await eventually(async () => {
      const r = await api<{ items: { id: string; status: string }[] }>(base, admin, '/api/v1/devices?kind=env-monitor&status=online');
      return r.body.items[0]?.id;
    }, 'an online env monitor');
    // The nodes use a scoped API token, as the README tells users to: commands and twins only.
    const t = await api<{ token: string }>(base, admin, '/api/v1/api-tokens', { method: 'POST', body: JSON.stringify({ scopes: ['commands:send', 'twin:read', 'twin:write'] }) });
    expect(t.status).toBe(201);
    token = t.body.token;
    await helper.startServer();
  });
  afterEach(async () => {
    await helper.unload();
  });
  afterAll(async () => {
    await helper.stopServer();
    await up?.close();
    tmp.cleanup();
  });

  it('yulan command: a confirmed result on output 1', async () => {
    await helper.load(yulanNodes, flow([{ id: 'c', type: 'yulan-command', yulan: 'cfg', command: 'env.set_interval', timeout: '30', wires: [['ok'], ['bad']] }]), creds());
    const o = outputs();
    helper.getNode('c').receive({ device: envMonitor, payload: { interval_s: 20 } });
    await eventually(() => o.ok.length + o.bad.length > 0, 'the command result', 60_000);
    expect(o.bad).toEqual([]);
    expect(o.ok[0]?.payload).toMatchObject({ deviceId: envMonitor, name: 'env.set_interval', status: 'succeeded' });
  });

  it('yulan command: refusals and unknown devices on output 2 with the API\'s code', async () => {
    await helper.load(yulanNodes, flow([{ id: 'c', type: 'yulan-command', yulan: 'cfg', wires: [['ok'], ['bad']] }]), creds());
    const o = outputs();
    helper.getNode('c').receive({ device: envMonitor, command: 'env.set_interval', payload: { interval_s: 0 } });
    helper.getNode('c').receive({ device: 'no-such-device', command: 'reboot', payload: {} });
    helper.getNode('c').receive({ payload: {} });
    await eventually(() => o.bad.length === 3, 'three failures');
    expect(o.ok).toEqual([]);
    expect(o.bad.map((m) => m.error?.code).sort()).toEqual(['E_NODE', 'E_NOT_FOUND', 'E_VALIDATION']);
  });

  it('yulan twin: set desired, then get it back', async () => {
    await helper.load(yulanNodes, flow([
      // (ids unlike any property value: Node-RED takes a string equal to a node id for a reference)
      { id: 'twin-w', type: 'yulan-twin', yulan: 'cfg', action: 'set', wires: [['ok']] },
      { id: 'twin-r', type: 'yulan-twin', yulan: 'cfg', action: 'get', wires: [['ok']] },
    ]), creds());
    const o = outputs();
    helper.getNode('twin-w').receive({ device: envMonitor, payload: { report_interval_s: 15 } });
    await eventually(() => o.ok.length === 1, 'the set');
    const version = (o.ok[0]?.payload as { desired: { version: number } }).desired.version;
    helper.getNode('twin-r').receive({ device: envMonitor });
    await eventually(() => o.ok.length === 2, 'the get');
    expect(o.ok[1]?.payload).toMatchObject({ deviceId: envMonitor, desired: { version, settings: { report_interval_s: 15 } } });
  });

  it('shipped example: PM2.5 above the threshold shortens the env monitor\'s reporting interval through its twin', async () => {
    const created = await api<{ secret: string }>(base, admin, '/api/v1/integrations', {
      method: 'POST', body: JSON.stringify({ name: 'nodered', rules: [{ filter: 'yulan/v1/+/env-monitor/+/telemetry', read: true }] }),
    });
    expect(created.status).toBe(201);
    const example = JSON.parse(readFileSync(new URL('../examples/pm25-shorten-interval.json', import.meta.url), 'utf8')) as Record<string, unknown>[];
    // As a user would deploy it: the connection pointed at this stack; the debug node swapped for a test probe.
    const flowNodes = example.filter((n) => n.type !== 'debug' && n.type !== 'tab').map((n) => {
      if (n.type === 'yulan-config') return { ...n, broker: `mqtt://127.0.0.1:${up.mqttPort}`, api: base };
      if (n.type === 'yulan-twin') return { ...n, wires: [['ok']] };
      return n;
    });
    process.env.YULAN_PM25_THRESHOLD = '0'; // every reading is "above"
    try {
      await helper.load([functionNode, yulanNodes], [...flowNodes, { id: 'ok', type: 'helper' }], { 'yulan-cfg': { account: 'nodered', secret: created.body.secret, token } });
      const o = { ok: [] as Msg[] };
      helper.getNode('ok').on('input', (m) => o.ok.push(m));
      const changed = await eventually(() => o.ok[0], 'the twin change from the flow', 60_000);
      const device = (changed.payload as { deviceId: string }).deviceId;
      const twin = await api<{ desired: { settings: Record<string, number> } }>(base, token, `/api/v1/devices/${device}/twin`);
      expect(twin.body.desired.settings.report_interval_s).toBe(60);
    } finally {
      delete process.env.YULAN_PM25_THRESHOLD;
    }
  });
});
