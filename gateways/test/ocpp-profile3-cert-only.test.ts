import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchTrustingCa } from '@yulan/protos';
import { createCa, issueCert, type PemPair } from '../../cli/src/dev-ca.js';
import { makeDeviceCsr } from '../../cli/src/device-cert-csr.js';
import { GatewayConfigError, loadOcppGatewayConfig, startOcppGateway, type OcppGatewayHandle } from '../src/index.js';
import { RawChargePoint, logger, proxyTo, startPlatform, waitFor, type Platform } from './harness.js';

/**
 * Security profile 3 with the client certificate alone (docs/ocpp.md §1.2): no Basic auth,
 * the gateway binds the charger at the broker by its certificate (gateway role, account
 * with certBind), and the broker checks it as a device's certificate login. Real broker
 * (with the device CA), real cloud (issues and revokes the certificates), real TLS.
 */
let p: Platform;
let gw: OcppGatewayHandle;
let serverCa: PemPair;
let deviceCa: PemPair;
let filesDir: string;
const files: Record<string, string> = {};
const keys = new Map<string, string>();
const certs = new Map<string, { key: string; cert: string; fingerprint: string }>();
const opened: RawChargePoint[] = [];
const gateways: OcppGatewayHandle[] = [];

const tls = (c?: { key: string; cert: string }) => ({ ca: serverCa.certPem, ...(c ? { key: c.key, cert: c.cert } : {}) });
const boot = async (cp: RawChargePoint) => (await cp.call('BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' }))[2];
const deviceStatus = async (id: string): Promise<string> => (await p.api<{ status: string }>(`/api/v1/devices/${id}`)).body.status;
const certOnly = async (g: OcppGatewayHandle, id: string, c = certs.get(id)): Promise<RawChargePoint> => {
  const cp = await RawChargePoint.connect(g.url, id, undefined, ['ocpp1.6'], tls(c));
  opened.push(cp);
  return cp;
};
const brokerRefused = (reason: string): number => p.broker.metrics().gatewayBinds?.certBindRefused[reason] ?? 0;
async function refused(id: string, c: { key: string; cert: string } | undefined, why: string): Promise<void> {
  const before = gw.metrics.upgradesRefused[why] ?? 0;
  await expect(RawChargePoint.connect(gw.url, id, undefined, ['ocpp1.6'], tls(c))).rejects.toMatchObject({ status: 401 });
  expect(gw.metrics.upgradesRefused[why]).toBe(before + 1);
}
async function gateway(env: Record<string, string>): Promise<OcppGatewayHandle> {
  const g = await startOcppGateway(loadOcppGatewayConfig({
    ...p.env, YULAN_OCPP_TLS_CERT: files['server.pem']!, YULAN_OCPP_TLS_KEY: files['server-key.pem']!,
    YULAN_OCPP_TLS_CLIENT_CA: files['device-ca.pem']!,
    // the gateway's own periodic re-check of certificates stays out of the way: a cut seen
    // here comes from the broker's revocation push
    YULAN_AUTH_CACHE_TTL_MS: '3600000', ...env,
  }), logger);
  gateways.push(g);
  const get = fetchTrustingCa(serverCa.certPem);
  await waitFor(async () => (await (await get(`https://127.0.0.1:${g.port}/healthz`)).json() as { brokerSession?: boolean }).brokerSession || undefined, 'gateway session up');
  return g;
}

beforeAll(async () => {
  serverCa = await createCa('p3-cert-only server CA');
  deviceCa = await createCa('p3-cert-only device CA');
  const leaf = await issueCert(serverCa, { commonName: 'localhost', usage: 'server', dnsNames: ['localhost'], ips: ['127.0.0.1'] });
  filesDir = mkdtempSync(join(tmpdir(), 'yulan-p3-'));
  for (const [name, pem] of [['server.pem', leaf.certPem], ['server-key.pem', leaf.keyPem], ['device-ca.pem', deviceCa.certPem], ['device-ca-key.pem', deviceCa.keyPem]] as const) {
    files[name] = join(filesDir, name);
    writeFileSync(files[name], pem, { mode: 0o600 });
  }
  // The broker checks certificates against the device CA (it needs its TLS listener for
  // that); the cloud signs and revokes them. TLS listeners on free ports.
  p = await startPlatform({
    YULAN_TLS_CERT_FILE: files['server.pem']!, YULAN_TLS_KEY_FILE: files['server-key.pem']!,
    YULAN_DEVICE_CA_FILE: files['device-ca.pem']!, YULAN_DEVICE_CA_KEY_FILE: files['device-ca-key.pem']!,
    YULAN_MQTTS_PORT: '0', YULAN_WSS_PORT: '0', YULAN_HTTPS_PORT: '0', YULAN_EDGE_HTTPS_PORT: '0',
  }, { certBind: true });
  for (const id of ['P3C-A', 'P3C-B', 'P3C-REV', 'P3C-OFF', 'P3C-NOBIND', 'P3C-RB']) {
    keys.set(id, await p.addCharger(id));
    const { keyPem, csrPem } = await makeDeviceCsr(id);
    const r = await p.api<{ certificate: string; fingerprint: string }>(`/api/v1/devices/${id}/certificates`, { method: 'POST', json: { csr: csrPem } });
    expect(r.status).toBe(201);
    certs.set(id, { key: keyPem, cert: r.body.certificate, fingerprint: r.body.fingerprint });
  }
  gw = await gateway(p.certBindEnv);
});
afterAll(async () => {
  for (const cp of opened) cp.close();
  for (const g of gateways) await g.close().catch(() => {});
  await p?.close();
  if (filesDir) rmSync(filesDir, { recursive: true, force: true });
});

describe('security profile 3 with the client certificate alone (gateway role, certBind)', () => {
  it('a certificate-only charger boots, is online, its reports are stored and it gets commands', async () => {
    const accepted = gw.metrics.certificateOnly;
    const cp = await certOnly(gw, 'P3C-A');
    expect(gw.metrics.certificateOnly).toBe(accepted + 1);
    expect(await boot(cp)).toMatchObject({ status: 'Accepted' });
    await waitFor(async () => (await deviceStatus('P3C-A')) === 'online' || undefined, 'P3C-A online');
    expect(p.broker.metrics().gatewayBinds?.certBinds).toBeGreaterThanOrEqual(1);

    await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Preparing' });
    await waitFor(async () => {
      const r = await p.api<{ events: { type: string }[] }>('/api/v1/devices/P3C-A/events');
      return r.body.events.some((e) => e.type === 'charger.status_changed') || undefined;
    }, 'status event stored');

    // a transaction's meter values: durable telemetry through the certificate binding
    const start = await cp.call('StartTransaction', { connectorId: 1, idTag: 'ANY', meterStart: 1_000_000, timestamp: new Date().toISOString() });
    const tx = (start[2] as { transactionId: number }).transactionId;
    expect((await cp.call('MeterValues', { connectorId: 1, transactionId: tx, meterValue: [{ timestamp: new Date().toISOString(), sampledValue: [
      { value: '1001.5', measurand: 'Energy.Active.Import.Register', unit: 'kWh' }, { value: '7.2', measurand: 'Power.Active.Import', unit: 'kW' },
    ] }] }))[2]).toEqual({});
    const point = await waitFor(async () => {
      const r = await p.api<{ points: { fields: Record<string, number> }[] }>('/api/v1/devices/P3C-A/telemetry?resolution=raw');
      return r.body.points.find((pt) => pt.fields.meter_kwh === 1001.5);
    }, 'meter values stored');
    expect(point.fields).toMatchObject({ energy_kwh: 1.5, power_w: 7200 });

    const from = cp.calls.length;
    const cmd = await p.api<{ id: string }>('/api/v1/devices/P3C-A/commands', { method: 'POST', json: { name: 'charger.start_session', args: { connector_id: 1, id_tag: 'TAG-P3' } } });
    expect(cmd.status).toBe(201);
    const call = await waitFor(() => cp.calls.slice(from).find((f) => f[2] === 'RemoteStartTransaction'), 'RemoteStart reached the charger');
    expect(call[3]).toMatchObject({ connectorId: 1, idTag: 'TAG-P3' });

    // the same charger again (reconnect): the newer connection wins and is online again
    const again = await certOnly(gw, 'P3C-A');
    await waitFor(() => cp.closed, 'older connection closed');
    expect(await boot(again)).toMatchObject({ status: 'Accepted' });
    expect((await again.call('Heartbeat', {}))[0]).toBe(3);
    await waitFor(async () => (await deviceStatus('P3C-A')) === 'online' || undefined, 'P3C-A online again');
  });

  it('a charger sending both its key and its certificate keeps working (bound by its key)', async () => {
    const before = p.broker.metrics().gatewayBinds!.certBinds;
    const acceptedByCert = gw.metrics.certificateOnly;
    const cp = await RawChargePoint.connect(gw.url, 'P3C-B', keys.get('P3C-B'), ['ocpp1.6'], tls(certs.get('P3C-B')));
    opened.push(cp);
    expect(await boot(cp)).toMatchObject({ status: 'Accepted' });
    await waitFor(async () => (await deviceStatus('P3C-B')) === 'online' || undefined, 'P3C-B online');
    expect(p.broker.metrics().gatewayBinds!.certBinds).toBe(before);
    expect(gw.metrics.certificateOnly).toBe(acceptedByCert);
    cp.close();
    await waitFor(async () => (await deviceStatus('P3C-B')) === 'offline' || undefined, 'P3C-B offline');
  });

  it('refuses another charger\'s certificate, another CA, an unregistered one and a disabled charger, each with its reason', async () => {
    await refused('P3C-A', certs.get('P3C-B'), 'cert-wrong-subject');
    const other = await createCa('not Yulan');
    const foreign = await issueCert(other, { commonName: 'P3C-A', usage: 'client' });
    await refused('P3C-A', { key: foreign.keyPem, cert: foreign.certPem }, 'cert-untrusted');
    const stray = await issueCert(deviceCa, { commonName: 'P3C-A', usage: 'client' });
    await refused('P3C-A', { key: stray.keyPem, cert: stray.certPem }, 'cert-revoked-or-unregistered');
    expect((await p.api('/api/v1/devices/P3C-OFF/disable', { method: 'POST' })).status).toBe(200);
    await refused('P3C-OFF', certs.get('P3C-OFF'), 'disabled');
    // no certificate and no key
    const before = gw.metrics.upgradesRefused['no-credentials'] ?? 0;
    await expect(RawChargePoint.connect(gw.url, 'P3C-A', undefined, ['ocpp1.6'], tls())).rejects.toMatchObject({ status: 401 });
    expect(gw.metrics.upgradesRefused['no-credentials']).toBe(before + 1);
  });

  it('a certificate revoked while connected is cut at once by the broker and refused from then on', async () => {
    const cp = await certOnly(gw, 'P3C-REV');
    expect(await boot(cp)).toMatchObject({ status: 'Accepted' });
    await waitFor(async () => (await deviceStatus('P3C-REV')) === 'online' || undefined, 'P3C-REV online');
    const r = await p.api<{ revoked: string[]; push: string }>('/api/v1/devices/P3C-REV/certificates/revoke', { method: 'POST', json: {} });
    expect(r.body).toEqual({ revoked: [certs.get('P3C-REV')!.fingerprint], push: 'published' });
    // the gateway's own re-check runs hourly here: this is the broker's unbind
    expect(await waitFor(() => cp.closed, 'connection cut')).toMatchObject({ code: 1008, reason: 'revoked' });
    await waitFor(async () => (await deviceStatus('P3C-REV')) !== 'online' || undefined, 'P3C-REV not online');
    await refused('P3C-REV', certs.get('P3C-REV'), 'cert-revoked-or-unregistered');
    // the other charger is untouched
    const a = await certOnly(gw, 'P3C-A');
    expect(await boot(a)).toMatchObject({ status: 'Accepted' });
  });

  it('a gateway whose broker account has no certBind cannot bind by certificate: the broker refuses, the charger is cut', async () => {
    const plain = await gateway({ ...p.gatewayRoleEnv, YULAN_OCPP_CERT_BIND: '1' });
    const before = brokerRefused('cert-bind-not-allowed');
    const cp = await certOnly(plain, 'P3C-NOBIND');
    expect(await waitFor(() => cp.closed, 'charger cut')).toEqual({ code: 1008, reason: 'broker refused the charger (cert-bind-not-allowed)' });
    expect(brokerRefused('cert-bind-not-allowed')).toBe(before + 1);
    expect(await deviceStatus('P3C-NOBIND')).not.toBe('online');
    // with its key, the same charger binds through that gateway as before
    const withKey = await RawChargePoint.connect(plain.url, 'P3C-NOBIND', keys.get('P3C-NOBIND'), ['ocpp1.6'], tls(certs.get('P3C-NOBIND')));
    opened.push(withKey);
    expect(await boot(withKey)).toMatchObject({ status: 'Accepted' });
  });

  it('when the gateway\'s broker session drops and comes back, the certificate-only charger is bound again by its certificate', async () => {
    const proxy = await proxyTo(p.broker.mqttPort);
    try {
      const g = await gateway({ ...p.certBindEnv, YULAN_MQTT_URL: `mqtt://127.0.0.1:${proxy.port}`, YULAN_OCPP_MQTT_CLIENT_ID: 'gw-cert:proxied' });
      const cp = await certOnly(g, 'P3C-RB');
      expect(await boot(cp)).toMatchObject({ status: 'Accepted' });
      await waitFor(async () => (await deviceStatus('P3C-RB')) === 'online' || undefined, 'P3C-RB online');
      const binds = p.broker.metrics().gatewayBinds!.certBinds;
      proxy.cut();
      await waitFor(async () => (await deviceStatus('P3C-RB')) === 'offline' || undefined, 'offline with the gateway\'s session');
      await proxy.restore();
      await waitFor(async () => (await deviceStatus('P3C-RB')) === 'online' || undefined, 'online again');
      expect(p.broker.metrics().gatewayBinds!.certBinds).toBeGreaterThan(binds);
      // and it speaks for it again: a report after the rebind is stored
      await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Preparing' });
      await waitFor(async () => {
        const r = await p.api<{ events: { type: string }[] }>('/api/v1/devices/P3C-RB/events');
        return r.body.events.some((e) => e.type === 'charger.status_changed') || undefined;
      }, 'status event after the rebind stored');
      expect(cp.closed).toBeUndefined();
    } finally {
      proxy.close();
    }
  });

  it('YULAN_OCPP_CERT_BIND needs the gateway broker account and the client CA', () => {
    const base = { ...p.env, YULAN_OCPP_TLS_CERT: files['server.pem']!, YULAN_OCPP_TLS_KEY: files['server-key.pem']!, YULAN_OCPP_CERT_BIND: '1' };
    expect(() => loadOcppGatewayConfig({ ...base, YULAN_OCPP_TLS_CLIENT_CA: files['device-ca.pem']! })).toThrow(GatewayConfigError);
    expect(() => loadOcppGatewayConfig({ ...base, ...p.gatewayRoleEnv })).toThrow(/YULAN_OCPP_CERT_BIND: needs/);
    expect(loadOcppGatewayConfig({ ...base, ...p.gatewayRoleEnv, YULAN_OCPP_TLS_CLIENT_CA: files['device-ca.pem']! }).certBind).toBe(true);
  });
});
