import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEdgeConfig, startEmbeddedNodeRed, type EmbeddedNodeRed } from '@yulan/edge';
import { runUp, type UpHandle } from '../src/up.js';
import { api, eventually, quietLogger, tempDir } from './support.js';

const EXAMPLE = new URL('../../node-red-contrib-yulan/examples/pm25-shorten-interval.json', import.meta.url);

describe('embedded Node-RED at the edge: a shipped flow against a live stack', () => {
  const tmp = tempDir('yulan-nr-edge-');
  let up: UpHandle;
  let base: string;
  let token: string;
  let red: EmbeddedNodeRed | undefined;
  const nrDir = join(tmp.dir, 'edge-nr');

  beforeAll(async () => {
    up = await runUp({
      YULAN_DATA_DIR: tmp.dir, YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0',
      YULAN_MQTT_HOST: '127.0.0.1', YULAN_HTTP_HOST: '127.0.0.1', YULAN_SIM_DEVICES: '1', YULAN_SIM_RATE: '1', YULAN_SIM_SITES: 'lab',
      YULAN_CARE_DEMO: '0',
    }, quietLogger, () => {});
    base = `http://127.0.0.1:${up.httpPort}`;
    token = up.adminToken!;
  });
  afterAll(async () => {
    await red?.close();
    delete process.env.YULAN_PM25_THRESHOLD;
    await up?.close();
    tmp.cleanup();
  });

  it('is off by default and on with YULAN_NODE_RED=1 or a flow file', () => {
    const env = { YULAN_EDGE_MQTT_PASSWORD: 'x', YULAN_EDGE_TOKEN: 'x'.repeat(16) };
    expect(loadEdgeConfig(env).nodeRed).toBeUndefined();
    expect(loadEdgeConfig({ ...env, YULAN_NODE_RED: '1' }).nodeRed).toEqual({ host: '127.0.0.1', port: 1880 });
    expect(loadEdgeConfig({ ...env, YULAN_NODE_RED_FLOWS: 'f.json' }).nodeRed?.seedFlows).toMatch(/f\.json$/);
  });

  it('editor behind a generated login; the PM2.5 example deployed through it shortens a monitor\'s interval', async () => {
    process.env.YULAN_PM25_THRESHOLD = '0'; // every reading is "above"
    red = await startEmbeddedNodeRed({ dataDir: nrDir, host: '127.0.0.1', port: 0, seedFlows: EXAMPLE.pathname, logger: quietLogger });
    expect(red.generatedPassword).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    // Stored hashed, owner-only; flows in the data directory.
    const stored = readFileSync(join(nrDir, 'node-red', 'yulan-admin.json'), 'utf8');
    expect(stored).not.toContain(red.generatedPassword!);
    expect(statSync(join(nrDir, 'node-red', 'yulan-admin.json')).mode & 0o077).toBe(0);
    expect(JSON.parse(readFileSync(join(nrDir, 'node-red', 'flows.json'), 'utf8'))).toEqual(JSON.parse(readFileSync(EXAMPLE, 'utf8')));

    expect((await fetch(`${red.url}/flows`)).status).toBe(401);
    const wrong = await fetch(`${red.url}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username: 'admin', password: 'admin' }) });
    expect(wrong.status).toBe(403);
    const login = await fetch(`${red.url}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username: red.username, password: red.generatedPassword }) });
    expect(login.status).toBe(200);
    const bearer = { authorization: `Bearer ${((await login.json()) as { access_token: string }).access_token}` };

    // The Yulan nodes are pre-installed.
    const nodes = (await (await fetch(`${red.url}/nodes`, { headers: { ...bearer, accept: 'application/json' } })).json()) as { types: string[] }[];
    expect(nodes.flatMap((s) => s.types)).toEqual(expect.arrayContaining(['yulan-config', 'yulan-telemetry', 'yulan-twin', 'yulan-command', 'yulan-publish']));
    // …with their labels and help in Chinese as well as English.
    const zh = await (await fetch(`${red.url}/nodes/messages?lng=zh-CN`, { headers: bearer })).text();
    expect(zh).toContain('集成账号');
    const help = await (await fetch(`${red.url}/nodes`, { headers: { ...bearer, accept: 'text/html', 'accept-language': 'zh-CN' } })).text();
    expect(help).toContain('data-help-name="yulan-command"');

    // What an engineer does in the editor: point the connection at the platform, add the secrets, deploy.
    const account = await api<{ secret: string }>(base, token, '/api/v1/integrations', {
      method: 'POST', body: JSON.stringify({ name: 'site-flows', rules: [{ filter: 'yulan/v1/+/env-monitor/+/telemetry', read: true }] }),
    });
    expect(account.status).toBe(201);
    const flows = (JSON.parse(readFileSync(EXAMPLE, 'utf8')) as Record<string, unknown>[]).map((n) => n.type === 'yulan-config'
      ? { ...n, broker: `mqtt://127.0.0.1:${up.mqttPort}`, api: base, credentials: { account: 'site-flows', secret: account.body.secret, token } }
      : n);
    const deploy = await fetch(`${red.url}/flows`, { method: 'POST', headers: { ...bearer, 'content-type': 'application/json', 'node-red-deployment-type': 'full' }, body: JSON.stringify(flows) });
    expect(deploy.status).toBe(204);
    // Credentials are kept encrypted in the data directory, never in the flow file.
    expect(readFileSync(join(nrDir, 'node-red', 'flows.json'), 'utf8')).not.toContain(account.body.secret);
    expect(readFileSync(join(nrDir, 'node-red', 'flows_cred.json'), 'utf8')).not.toContain(account.body.secret);

    const monitors = await api<{ items: { id: string }[] }>(base, token, '/api/v1/devices?kind=env-monitor');
    const id = monitors.body.items[0]!.id;
    const twin = await eventually(async () => {
      const t = await api<{ desired: { settings: Record<string, number> } }>(base, token, `/api/v1/devices/${id}/twin`);
      return t.body.desired.settings.report_interval_s === 60 ? t.body : undefined;
    }, 'the flow shortening the interval', 60_000);
    expect(twin.desired.settings.report_interval_s).toBe(60);

    // A restart keeps the login (no new password) and the deployed flow.
    await red.close();
    red = await startEmbeddedNodeRed({ dataDir: nrDir, host: '127.0.0.1', port: 0, seedFlows: EXAMPLE.pathname, logger: quietLogger });
    expect(red.generatedPassword).toBeUndefined();
    expect(readFileSync(join(nrDir, 'node-red', 'flows.json'), 'utf8')).toContain(`127.0.0.1:${up.mqttPort}`);
  });
});
