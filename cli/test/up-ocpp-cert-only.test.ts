import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runUp, type UpHandle } from '../src/up.js';
import { ensureDevTls, type DevTls } from '../src/dev-ca.js';
import { makeDeviceCsr } from '../src/device-cert-csr.js';
import { api, eventually, quietLogger, tempDir } from './support.js';

/**
 * `yulan up` with client certificates on its OCPP listener (YULAN_OCPP_TLS_CLIENT_CA): its
 * gateway account gets certBind for ev-chargers and a charger with a device certificate and
 * no AuthorizationKey joins (docs/ocpp.md §1.2 point 5). Without that variable the account
 * gets no certBind: up's own listener is plain ws, where no certificate can be presented.
 */
describe('yulan up: OCPP security profile 3 with the certificate alone', () => {
  const tmp = tempDir('yulan-up-ocpp-p3-');
  let up: UpHandle;
  let dev: DevTls;
  const sockets: WebSocket[] = [];

  beforeAll(async () => {
    // up's development CA, made beforehand so its files can be named: it signs the OCPP
    // listener's server certificate and the device certificates alike (EKUs keep them apart).
    dev = await ensureDevTls(tmp.dir);
    up = await runUp({
      YULAN_DATA_DIR: tmp.dir,
      YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0', YULAN_DEMO_PAGER_PORT: '0',
      YULAN_SIM_DEVICES: '1', YULAN_SIM_RATE: '1', YULAN_SIM_SITES: 'xuhui', YULAN_CARE_DEMO: '0',
      YULAN_OCPP_TLS_CERT: dev.certFile, YULAN_OCPP_TLS_KEY: dev.keyFile, YULAN_OCPP_TLS_CLIENT_CA: dev.caFile,
    }, quietLogger, () => undefined);
  });
  afterAll(async () => {
    for (const s of sockets) s.terminate();
    await up?.close();
    tmp.cleanup();
  });

  it('grants certBind to its gateway account; a certificate-only charger boots, is online, and is cut when revoked', async () => {
    const accounts = JSON.parse(fs.readFileSync(path.join(tmp.dir, 'broker', 'accounts.json'), 'utf8')) as { username: string; certBind?: unknown }[];
    expect(accounts.find((a) => a.username === 'gateway')?.certBind).toEqual(['ev-charger']);

    const cloud = `http://127.0.0.1:${up.httpPort}`;
    const token = up.adminToken!;
    expect((await api(cloud, token, '/api/v1/devices', { method: 'POST', body: JSON.stringify({ id: 'CP-UP-P3', site: 'xuhui', kind: 'ev-charger' }) })).status).toBe(201);
    const { keyPem, csrPem } = await makeDeviceCsr('CP-UP-P3');
    const issued = await api<{ certificate: string }>(cloud, token, '/api/v1/devices/CP-UP-P3/certificates', { method: 'POST', body: JSON.stringify({ csr: csrPem }) });
    expect(issued.status).toBe(201);

    // a charger's own OCPP-J frames over wss, with its client certificate and no Basic auth
    const ws = new WebSocket(`wss://127.0.0.1:${up.ocppPort}/ocpp/CP-UP-P3`, ['ocpp1.6'], {
      ca: fs.readFileSync(dev.caFile), cert: issued.body.certificate, key: keyPem,
    });
    sockets.push(ws);
    const frames: unknown[][] = [];
    let closed: { code: number; reason: string } | undefined;
    ws.on('message', (d) => frames.push(JSON.parse(String(d)) as unknown[]));
    ws.on('close', (code, reason) => { closed = { code, reason: reason.toString() }; });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_q, r) => reject(new Error(`upgrade refused: HTTP ${r.statusCode}`)));
      ws.once('error', reject);
    });
    ws.send(JSON.stringify([2, 'boot-1', 'BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' }]));
    const answer = await eventually(() => frames.find((f) => f[0] === 3 && f[1] === 'boot-1'), 'BootNotification answered', 30_000);
    expect(answer[2]).toMatchObject({ status: 'Accepted' });
    await eventually(async () => (await api<{ status: string }>(cloud, token, '/api/v1/devices/CP-UP-P3')).body.status === 'online' || undefined, 'online');

    expect((await api(cloud, token, '/api/v1/devices/CP-UP-P3/certificates/revoke', { method: 'POST', body: '{}' })).status).toBe(200);
    const cut = await eventually(() => closed, 'revoked charger cut');
    expect(cut.code).toBe(1008);
  });

  it("up's simulated OCPP charger joins the wss:// listener, trusting the stack's CA", async () => {
    const cloud = `http://127.0.0.1:${up.httpPort}`;
    const sim = await eventually(async () => {
      const r = await api<{ status: string; lastValues: unknown }>(cloud, up.adminToken!, '/api/v1/devices/ocpp-xuhui-0001');
      return r.status === 200 && r.body.status === 'online' && r.body.lastValues ? r.body : undefined;
    }, 'the simulated OCPP charger online with values', 60_000);
    expect(sim.status).toBe('online');
  });
});
