import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@yulan/testkit';
import { runUp, type UpHandle } from '../../cli/src/up.js';
import { api, eventually, quietLogger, tempDir } from '../../cli/test/support.js';

const require = createRequire(import.meta.url);
interface HelperNode { on(ev: string, fn: (arg: Record<string, unknown>) => void): void }
const helper = require('node-red-node-test-helper') as {
  init(path: string): void;
  startServer(): Promise<void>;
  stopServer(): Promise<void>;
  load(nodes: unknown, flow: object[], creds?: Record<string, object>): Promise<void>;
  unload(): Promise<void>;
  getNode(id: string): HelperNode;
};
helper.init(require.resolve('node-red'));
const yulanNodes: unknown = require('../nodes/yulan.js');

interface Alert { id: string; revision: number; status: string; updatedAt: number }
interface Msg { topic: string; payload: Alert }

/** An SSE response read until `until` appears; the text so far. */
async function readUntil(res: Response, until: string): Promise<string> {
  const reader = res.body!.getReader();
  let text = '';
  while (!text.includes(until)) {
    const { done, value } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString('utf8');
  }
  await reader.cancel().catch(() => undefined);
  return text;
}

// A live platform whose simulated fall sensor presses SOS a second after start, on a
// fixed HTTP port so the cloud can be restarted under the running node.
describe('yulan alert node: pushed alerts, changes, catch-up after a cloud restart (Node-RED runtime, live stack)', () => {
  const tmp = tempDir('yulan-nr-alerts-');
  let env: NodeJS.ProcessEnv;
  let up: UpHandle | undefined;
  let base: string;
  let admin: string;
  let token: string;
  const out: Msg[] = [];
  /** the node's status calls: a yellow ring while it reconnects, a dot once synced */
  const statuses: { fill?: string; shape?: string; text?: string }[] = [];
  const reconnecting = (x: { fill?: string; shape?: string }) => x.fill === 'yellow' && x.shape === 'ring';
  const synced = (x: { shape?: string }) => x.shape === 'dot';

  beforeAll(async () => {
    const httpPort = await freePort();
    env = {
      YULAN_DATA_DIR: tmp.dir, YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: String(httpPort), YULAN_EDGE_HTTP_PORT: '0',
      YULAN_MQTT_HOST: '127.0.0.1', YULAN_HTTP_HOST: '127.0.0.1', YULAN_SIM_DEVICES: '1', YULAN_SIM_RATE: '1', YULAN_SIM_SITES: 'lab',
      YULAN_SIM_SCENARIO: 'sos', YULAN_SIM_SCENARIO_AFTER: '1',
    };
    up = await runUp(env, quietLogger, () => {});
    base = `http://127.0.0.1:${up.httpPort}`;
    admin = up.adminToken!;
    // What the node's user does: an integration with the health grant, a token for alerts only.
    expect((await api(base, admin, '/api/v1/integrations', { method: 'POST', body: JSON.stringify({ name: 'wardboard', namespace: true, healthGrant: true }) })).status).toBe(201);
    const t = await api<{ token: string }>(base, admin, '/api/v1/api-tokens', { method: 'POST', body: JSON.stringify({ integration: 'wardboard', scopes: ['alerts:read'] }) });
    expect(t.status).toBe(201);
    token = t.body.token;
    await helper.startServer();
    await helper.load(yulanNodes, [
      { id: 'cfg', type: 'yulan-config', broker: 'mqtt://127.0.0.1:9', api: base },
      { id: 'alerts', type: 'yulan-alert', yulan: 'cfg', wires: [['ok']] },
      { id: 'ok', type: 'helper' },
    ], { cfg: { token } });
    helper.getNode('ok').on('input', (m) => out.push(m as unknown as Msg));
    helper.getNode('alerts').on('call:status', (call) => {
      const args = (call as { args?: { fill?: string; shape?: string; text?: string }[] }).args;
      statuses.push({ ...args?.[0] });
    });
  });
  afterAll(async () => {
    await helper.unload();
    await helper.stopServer();
    await up?.close();
    tmp.cleanup();
  });

  it('an alert raised is pushed; resolving it pushes the change; each change once', async () => {
    const raised = await eventually(() => out.find((m) => m.topic !== 'resolved' && m.topic !== 'cancelled'), 'the SOS alert', 60_000);
    expect(raised.payload.status).toBe(raised.topic);
    const r = await api(base, admin, `/api/v1/alerts/${raised.payload.id}/resolve`, { method: 'POST', body: JSON.stringify({ outcome: 'false_alarm', note: 'test' }) });
    expect(r.status).toBe(200);
    const resolved = await eventually(() => out.find((m) => m.payload.id === raised.payload.id && m.topic === 'resolved'), 'the resolution', 30_000);
    expect(resolved.payload.updatedAt).toBeGreaterThan(raised.payload.updatedAt);
    const keys = out.map((m) => `${m.payload.id}@${m.payload.updatedAt}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('the stream catches a client up from its Last-Event-ID: a change made while it was away comes first', async () => {
    const resolved = out.find((m) => m.topic === 'resolved')!.payload;
    const before = out.find((m) => m.payload.id === resolved.id && m.topic !== 'resolved')!.payload;
    const caughtUp = await readUntil(await fetch(`${base}/api/v1/alerts/stream`, { headers: { authorization: `Bearer ${token}`, 'last-event-id': String(before.updatedAt) } }), 'event: synced');
    expect(caughtUp).toContain(`"id":"${resolved.id}"`);
    expect(caughtUp).toContain('"status":"resolved"');
    // A token narrowed to another site gets nothing of this one, from the same cursor.
    const other = await api<{ token: string }>(base, admin, '/api/v1/api-tokens', { method: 'POST', body: JSON.stringify({ integration: 'wardboard', scopes: ['alerts:read'], sites: ['elsewhere'] }) });
    const narrowed = await readUntil(await fetch(`${base}/api/v1/alerts/stream`, { headers: { authorization: `Bearer ${other.body.token}`, 'last-event-id': String(before.updatedAt) } }), 'event: synced');
    expect(narrowed).toContain('event: synced');
    expect(narrowed).not.toContain('event: alert');
    // Without a cursor only open alerts are sent: the resolved one is not.
    const fresh = await readUntil(await fetch(`${base}/api/v1/alerts/stream`, { headers: { authorization: `Bearer ${token}` } }), 'event: synced');
    expect(fresh).not.toContain(`"id":"${resolved.id}"`);
  });

  it('after a cloud restart the node reconnects by itself, repeats nothing, and gets what happens next', async () => {
    const before = out.length;
    await up!.close();
    up = undefined;
    const down = statuses.length;
    await eventually(() => statuses.slice(down).some(reconnecting), 'the node noticing the cloud is gone', 30_000);
    const syncedBefore = statuses.filter(synced).length;
    up = await runUp(env, quietLogger, () => {});
    expect(up.httpPort).toBe(Number(env.YULAN_HTTP_PORT));
    // Synced again (the count shows once the catch-up is through) ...
    await eventually(() => statuses.filter(synced).length > syncedBefore, 'the node synced again', 60_000);
    // ... and the SOS the restarted simulator presses arrives as a change or a new alert.
    await eventually(() => out.length > before, 'an alert change after the restart', 60_000);
    const keys = out.map((m) => `${m.payload.id}@${m.payload.updatedAt}`);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
