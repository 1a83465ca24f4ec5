import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@yulan/testkit';
import { runUp, type UpHandle } from '../../cli/src/up.js';
import { api, connect, eventually, quietLogger, tempDir } from '../../cli/test/support.js';

const require = createRequire(import.meta.url);
const pkgDir = dirname(dirname(fileURLToPath(import.meta.url)));
const redJs = join(dirname(require.resolve('node-red/package.json')), 'red.js');

/** Runs a command to its end; rejects with its output when it fails. */
function run(cmd: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${out}`))));
  });
}

// What a user does with the published package, as far as a machine without internet
// allows: `npm pack` it, `npm install` the tarball into a fresh Node-RED user directory
// (its dependencies, mqtt and protobufjs, come from npm's cache — filled by `npm ci` — or
// the npm registry; nothing is copied from this repository's node_modules), start a stock
// Node-RED 4 (the node-red package's own red.js) on that directory, and deploy a flow
// through the admin HTTP API against a live Yulan stack.
describe('the packed node package in a stock Node-RED (npm pack, npm install, admin API deploy, live stack)', () => {
  const tmp = tempDir('yulan-nr-packed-');
  const userDir = join(tmp.dir, 'node-red');
  let up: UpHandle;
  let redProc: ChildProcess | undefined;
  let redLog = '';
  let redUrl: string;
  let probe: MqttClient | undefined;

  beforeAll(async () => {
    mkdirSync(userDir, { recursive: true });
    // dist/ is built by `npm test` (tsc -b) before the suite; prepack would build it again.
    const packed = (await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp.dir], pkgDir));
    const tarball = join(tmp.dir, (JSON.parse(packed.slice(packed.indexOf('['))) as { filename: string }[])[0]!.filename);
    writeFileSync(join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true }));
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--omit=dev', tarball], userDir);

    up = await runUp({
      YULAN_DATA_DIR: join(tmp.dir, 'yulan'), YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0',
      YULAN_MQTT_HOST: '127.0.0.1', YULAN_HTTP_HOST: '127.0.0.1', YULAN_SIM_DEVICES: '1', YULAN_SIM_RATE: '2', YULAN_SIM_SITES: 'lab',
    }, quietLogger, () => {});

    const port = await freePort();
    redUrl = `http://127.0.0.1:${port}`;
    writeFileSync(join(userDir, 'settings.js'), `module.exports = ${JSON.stringify({
      uiHost: '127.0.0.1', uiPort: port, flowFile: 'flows.json', credentialSecret: 'packed-install-test-secret',
      logging: { console: { level: 'info', metrics: false, audit: false } }, diagnostics: { enabled: false }, telemetry: { enabled: false },
      externalModules: { autoInstall: false, palette: { allowInstall: false } },
    })};\n`);
    redProc = spawn(process.execPath, [redJs, '--settings', join(userDir, 'settings.js'), '--userDir', userDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    redProc.stdout!.on('data', (d: Buffer) => { redLog += d.toString(); });
    redProc.stderr!.on('data', (d: Buffer) => { redLog += d.toString(); });
  });
  afterAll(async () => {
    await probe?.endAsync(true);
    if (redProc && redProc.exitCode === null) {
      const exited = new Promise((r) => redProc!.once('exit', r));
      redProc.kill('SIGTERM');
      await exited;
    }
    await up?.close();
    tmp.cleanup();
  });

  it('Node-RED loads the installed package; a flow deployed over the admin API moves live telemetry into the account\'s namespace', async () => {
    const modules = await eventually(async () => {
      const res = await fetch(`${redUrl}/nodes`, { headers: { accept: 'application/json' } });
      return res.ok ? (await res.json()) as { module: string; types: string[]; enabled: boolean; err?: string }[] : undefined;
    }, `Node-RED answering on ${redUrl}`, 60_000).catch((err: Error) => { throw new Error(`${err.message}\nNode-RED output:\n${redLog}`); });
    const yulan = modules.find((m) => m.module === 'node-red-contrib-yulan');
    expect(yulan, redLog).toBeDefined();
    expect(yulan!.err).toBeUndefined();
    expect(yulan!.types).toEqual(expect.arrayContaining(['yulan-config', 'yulan-telemetry', 'yulan-event', 'yulan-alert', 'yulan-command', 'yulan-twin', 'yulan-publish']));

    const base = `http://127.0.0.1:${up.httpPort}`;
    const admin = up.adminToken!;
    const created = await api<{ secret: string }>(base, admin, '/api/v1/integrations', {
      method: 'POST', body: JSON.stringify({ name: 'stocknr', rules: [{ filter: 'yulan/v1/lab/env-monitor/+/telemetry', read: true }], namespace: true }),
    });
    expect(created.status).toBe(201);
    const token = await api<{ token: string }>(base, admin, '/api/v1/api-tokens', { method: 'POST', body: JSON.stringify({ integration: 'stocknr', scopes: ['twin:read'], sites: ['lab'] }) });
    expect(token.status).toBe(201);

    probe = await connect(`mqtt://127.0.0.1:${up.mqttPort}`, { clientId: 'int:stocknr:probe', username: 'int:stocknr', password: created.body.secret });
    const seen: { topic: string; body: Record<string, unknown> }[] = [];
    probe.on('message', (topic, payload) => seen.push({ topic, body: JSON.parse(payload.toString()) as Record<string, unknown> }));
    await probe.subscribeAsync('ext/stocknr/#', { qos: 1 });

    const flow = [
      { id: 'tab1', type: 'tab', label: 'packed install' },
      { id: 'ycfg', type: 'yulan-config', broker: `mqtt://127.0.0.1:${up.mqttPort}`, api: base, credentials: { account: 'stocknr', secret: created.body.secret, token: token.body.token } },
      { id: 'tele', type: 'yulan-telemetry', z: 'tab1', yulan: 'ycfg', site: 'lab', kind: 'env-monitor', wires: [['pub']] },
      { id: 'pub', type: 'yulan-publish', z: 'tab1', yulan: 'ycfg', topic: 'pm', qos: '1', wires: [] },
    ];
    const deploy = await fetch(`${redUrl}/flows`, { method: 'POST', headers: { 'content-type': 'application/json', 'node-red-deployment-type': 'full' }, body: JSON.stringify(flow) });
    expect(deploy.status, await deploy.clone().text()).toBe(204); // flows API v1: deployed, no body

    const msg = await eventually(() => seen[0], 'decoded telemetry republished by the deployed flow', 60_000)
      .catch((err: Error) => { throw new Error(`${err.message}\nNode-RED output:\n${redLog}`); });
    expect(msg.topic).toBe('ext/stocknr/pm');
    expect(msg.body).toMatchObject({ header: { kind: 'DEVICE_KIND_ENV_MONITOR' }, envMonitor: {} });
  });
});
