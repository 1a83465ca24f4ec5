import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runUp, type UpHandle } from '../src/up.js';
import { deviceCertCommand } from '../src/commands/device-cert.js';
import { api, eventually, quietLogger, tempDir } from './support.js';

// `yulan up` out of the box: its development CA signs device certificates and the broker takes them.
describe('yulan up: device certificates with the development CA', () => {
  const tmp = tempDir('yulan-up-devcert-');
  const env: NodeJS.ProcessEnv = {
    YULAN_DATA_DIR: tmp.dir,
    YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0', YULAN_DEMO_PAGER_PORT: '0',
    YULAN_SIM_DEVICES: '1', YULAN_SIM_RATE: '1', YULAN_SIM_SITES: 'xuhui', YULAN_CARE_DEMO: '0',
  };
  let up: UpHandle;

  beforeAll(async () => {
    up = await runUp(env, quietLogger, () => undefined);
  });
  afterAll(async () => {
    await up?.close();
    tmp.cleanup();
  });

  it('issues with yulan device cert issue, connects with the files and no password, and revoke cuts it', async () => {
    const cloud = `http://127.0.0.1:${up.httpPort}`;
    const token = up.adminToken!;
    expect((await api(cloud, token, '/api/v1/devices', { method: 'POST', body: JSON.stringify({ id: 'cert-dev-1', site: 'xuhui', kind: 'env-monitor' }) })).status).toBe(201);
    const cli = async (args: string[]): Promise<string> => {
      const stdout = new PassThrough();
      const out: string[] = [];
      stdout.on('data', (c: Buffer) => out.push(c.toString()));
      const code = await deviceCertCommand(args, { env: { YULAN_CLOUD_URL: cloud, YULAN_ADMIN_TOKEN: token }, stdout: stdout as never, stderr: new PassThrough() as never });
      expect(code).toBe(0);
      return out.join('');
    };
    const dir = path.join(tmp.dir, 'device-files');
    await cli(['issue', 'cert-dev-1', '--out', dir]);
    const read = (f: string): string => fs.readFileSync(path.join(dir, f), 'utf8');
    const dev: MqttClient = await connectAsync(`mqtts://localhost:${up.tls!.mqttsPort}`, {
      protocolVersion: 4, reconnectPeriod: 0, clientId: 'cert-dev-1', ca: fs.readFileSync(up.tls!.devCa!.caFile, 'utf8'),
      cert: read('cert-dev-1.pem'), key: read('cert-dev-1-key.pem'),
    });
    let closed = false;
    dev.on('close', () => { closed = true; });
    await dev.publishAsync('yulan/v1/xuhui/env-monitor/cert-dev-1/telemetry', Buffer.from('hello'), { qos: 1 });
    expect(await cli(['revoke', 'cert-dev-1'])).toMatch(/revoked 1 certificate/);
    await eventually(() => closed || undefined, 'the revoked device cut');
  });

  it('gives its gateway account no certBind: its OCPP listener is plain ws here (docs/ocpp.md §1.2)', () => {
    const accounts = JSON.parse(fs.readFileSync(path.join(tmp.dir, 'broker', 'accounts.json'), 'utf8')) as { username: string; role: string; certBind?: unknown }[];
    expect(accounts.find((a) => a.username === 'gateway')).toMatchObject({ role: 'gateway' });
    expect(accounts.find((a) => a.username === 'gateway')).not.toHaveProperty('certBind');
  });
});
