import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { runUp, type UpHandle } from '../src/up.js';
import { deviceCertCommand } from '../src/commands/device-cert.js';
import { api, eventually, quietLogger, tempDir } from './support.js';

interface Cert { fingerprint: string; status: string; firstUsedAt: string | null }
interface Point { ts: number }

// `yulan up` out of the box: one simulated device logs in by client certificate over
// MQTT/TLS (the others by secret), its telemetry is stored and read back — through the
// cloud's HTTPS call to the edge — and a restart reuses the same certificate.
describe('yulan up: a simulated device connects by certificate', () => {
  const tmp = tempDir('yulan-up-simcert-');
  const env: NodeJS.ProcessEnv = {
    YULAN_DATA_DIR: tmp.dir,
    YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0', YULAN_DEMO_PAGER_PORT: '0',
    YULAN_SIM_DEVICES: '1', YULAN_SIM_RATE: '2', YULAN_SIM_SITES: 'xuhui', YULAN_CARE_DEMO: '0', YULAN_SIM_OCPP: '0', YULAN_SERIAL_DEMO: '0',
  };
  let up: UpHandle | undefined;
  afterAll(async () => {
    await up?.close();
    tmp.cleanup();
  });

  it('by certificate: telemetry stored, the certificate kept in the sim data dir and reused after a restart', async () => {
    up = await runUp(env, quietLogger, () => undefined);
    const token = up.adminToken!;
    const id = 'ev-xuhui-0001';
    const base = (): string => `http://127.0.0.1:${up!.httpPort}`;
    const certs = async (): Promise<Cert[]> => (await api<{ items: Cert[] }>(base(), token, `/api/v1/devices/${id}/certificates`)).body.items;
    const points = async (): Promise<Point[]> => (await api<{ points: Point[] }>(base(), token, `/api/v1/devices/${id}/telemetry?resolution=raw&limit=1000`)).body.points ?? [];

    // a certificate login marks the certificate used: the device did not use its secret
    const [first] = await eventually(async () => {
      const c = await certs();
      return c.length === 1 && c[0]!.firstUsedAt !== null ? c : undefined;
    }, 'the simulated device logged in by certificate');
    expect(first!.status).toBe('active');
    const before = await eventually(async () => { const p = await points(); return p.length > 0 ? p : undefined; }, 'telemetry of the certificate device stored');
    const dir = path.join(tmp.dir, 'sims', 'certs');
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(dir, `${id}-key.pem`)).mode & 0o777).toBe(0o600);
    // the other kinds still log in with their secrets: none has a certificate
    expect((await api<{ items: Cert[] }>(base(), token, '/api/v1/devices/env-xuhui-0001/certificates')).body.items).toEqual([]);

    // the CLI over the cloud's HTTPS port, trusting the development CA through YULAN_TLS_CA_FILE
    const https = `https://localhost:${up.tls!.httpsPort}`;
    const listed = async (extra: NodeJS.ProcessEnv): Promise<string> => {
      const stdout = new PassThrough();
      const out: string[] = [];
      stdout.on('data', (c: Buffer) => out.push(c.toString()));
      await deviceCertCommand(['list', id], { env: { YULAN_CLOUD_URL: https, YULAN_ADMIN_TOKEN: token, ...extra }, stdout: stdout as never, stderr: new PassThrough() as never });
      return out.join('');
    };
    expect(await listed({ YULAN_TLS_CA_FILE: up.tls!.devCa!.caFile })).toContain(`active    ${first!.fingerprint}`);
    await expect(listed({})).rejects.toThrow(/cannot reach the cloud/);

    await up.close();
    up = await runUp({ ...env, YULAN_ADMIN_TOKEN: token }, quietLogger, () => undefined);
    const newest = Math.max(...before.map((p) => p.ts));
    await eventually(async () => ((await points()).some((p) => p.ts > newest + 1000) ? true : undefined), 'telemetry after the restart');
    // the same certificate, not a second one
    expect((await certs()).map((c) => c.fingerprint)).toEqual([first!.fingerprint]);
  });
});
