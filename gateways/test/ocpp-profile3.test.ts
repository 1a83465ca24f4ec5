import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, issueCert, type PemPair } from '../../cli/src/dev-ca.js';
import { makeDeviceCsr } from '../../cli/src/device-cert-csr.js';
import { GatewayConfigError, loadOcppGatewayConfig, startOcppGateway, type OcppGatewayHandle } from '../src/index.js';
import { RawChargePoint, startPlatform, waitFor, type Platform } from './harness.js';
import { logLines } from '@yulan/testkit';

/**
 * Security profile 3: TLS with a client certificate from the Yulan device CA, checked at
 * the upgrade against the handshake's verdict, the URL's charge point id and the cloud's
 * certificate record (device-cert-auth, the broker's endpoint) — revocation included.
 */
let p: Platform;
let gw: OcppGatewayHandle;
let serverCa: PemPair;
let deviceCa: PemPair;
const { stream: logStream, lines } = logLines<{ msg: string; why?: string; detail?: string }>();
const logger = pino({ level: 'info' }, logStream);
const keys = new Map<string, string>();
const certs = new Map<string, { key: string; cert: string; fingerprint: string }>();
const files: Record<string, string> = {};

beforeAll(async () => {
  serverCa = await createCa('p3 server CA');
  deviceCa = await createCa('p3 device CA');
  const leaf = await issueCert(serverCa, { commonName: 'localhost', usage: 'server', dnsNames: ['localhost'], ips: ['127.0.0.1'] });
  p = await startPlatform();
  for (const [name, pem] of [['server.pem', leaf.certPem], ['server-key.pem', leaf.keyPem], ['device-ca.pem', deviceCa.certPem], ['device-ca-key.pem', deviceCa.keyPem]] as const) {
    files[name] = join(p.dir, name);
    writeFileSync(files[name], pem, { mode: 0o600 });
  }
  // The cloud again, now with the device CA (the harness's broker needs none for this test).
  await p.cloud.close();
  const { loadCloudConfig, startCloud } = await import('@yulan/cloud');
  p.cloud = await startCloud(loadCloudConfig({ ...p.env, YULAN_DEVICE_CA_FILE: files['device-ca.pem']!, YULAN_DEVICE_CA_KEY_FILE: files['device-ca-key.pem']! }), pino({ level: 'silent' }), { dashboardDir: null });
  gw = await startOcppGateway(loadOcppGatewayConfig({
    ...p.env, YULAN_OCPP_TLS_CERT: files['server.pem']!, YULAN_OCPP_TLS_KEY: files['server-key.pem']!,
    YULAN_OCPP_TLS_CLIENT_CA: files['device-ca.pem']!, YULAN_AUTH_CACHE_TTL_MS: '300',
  }), logger);
  for (const id of ['CP3-A', 'CP3-B']) {
    keys.set(id, await p.addCharger(id));
    const { keyPem, csrPem } = await makeDeviceCsr(id);
    const r = await p.api<{ certificate: string; fingerprint: string }>(`/api/v1/devices/${id}/certificates`, { method: 'POST', json: { csr: csrPem } });
    expect(r.status).toBe(201);
    certs.set(id, { key: keyPem, cert: r.body.certificate, fingerprint: r.body.fingerprint });
  }
});
afterAll(async () => {
  await gw?.close();
  await p?.cloud.close().catch(() => {});
  await p?.close();
});

const tls = (c?: { key: string; cert: string }) => ({ ca: serverCa.certPem, ...(c ? { key: c.key, cert: c.cert } : {}) });
const boot = async (cp: RawChargePoint) => (await cp.call('BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' }))[2];
async function refused(id: string, key: string | undefined, c: { key: string; cert: string } | undefined, why: string, status = 401): Promise<void> {
  const before = gw.metrics.upgradesRefused[why] ?? 0;
  await expect(RawChargePoint.connect(gw.url, id, key, ['ocpp1.6'], tls(c))).rejects.toMatchObject({ status });
  expect(gw.metrics.upgradesRefused[why]).toBe(before + 1);
  expect(lines.some((l) => l.msg === 'OCPP upgrade refused' && l.why === why)).toBe(true);
}

describe('security profile 3 (client certificates)', () => {
  it('accepts the charger\'s own registered certificate (with its key); profile 2 on the same port still works', async () => {
    const cp = await RawChargePoint.connect(gw.url, 'CP3-A', keys.get('CP3-A'), ['ocpp1.6'], tls(certs.get('CP3-A')));
    expect(await boot(cp)).toMatchObject({ status: 'Accepted' });
    cp.close();
    const p2 = await RawChargePoint.connect(gw.url, 'CP3-B', keys.get('CP3-B'), ['ocpp1.6'], tls());
    expect(await boot(p2)).toMatchObject({ status: 'Accepted' });
    p2.close();
  });

  it('refuses wrong CA, expired, wrong subject, unregistered, and says why', async () => {
    const other = await createCa('not Yulan');
    await refused('CP3-A', keys.get('CP3-A'), await issueCert(other, { commonName: 'CP3-A', usage: 'client' }).then((c) => ({ key: c.keyPem, cert: c.certPem })), 'cert-untrusted');
    const past = new Date(Date.now() - 10 * 86_400_000);
    const expired = await issueCert(deviceCa, { commonName: 'CP3-A', usage: 'client', notBefore: past, notAfter: new Date(past.getTime() + 86_400_000) });
    await refused('CP3-A', keys.get('CP3-A'), { key: expired.keyPem, cert: expired.certPem }, 'cert-expired');
    // B's certificate on A's URL (even with A's key): the certificate names another charger.
    await refused('CP3-A', keys.get('CP3-A'), certs.get('CP3-B'), 'cert-wrong-subject');
    expect(lines.find((l) => l.why === 'cert-wrong-subject')?.detail).toContain('"CP3-B"');
    // Signed by the device CA but never issued through the registry.
    const stray = await issueCert(deviceCa, { commonName: 'CP3-A', usage: 'client' });
    await refused('CP3-A', keys.get('CP3-A'), { key: stray.keyPem, cert: stray.certPem }, 'cert-revoked-or-unregistered');
    // The right certificate with a wrong key: both must hold.
    await refused('CP3-A', 'wrong-key', certs.get('CP3-A'), 'bad-credentials');
    // No key at all: refused until the gateway speaks for chargers on its own broker session.
    await refused('CP3-A', undefined, certs.get('CP3-A'), 'cert-needs-key');
  });

  it('a revoked certificate cuts the live connection and is refused from then on', async () => {
    const cp = await RawChargePoint.connect(gw.url, 'CP3-B', keys.get('CP3-B'), ['ocpp1.6'], tls(certs.get('CP3-B')));
    expect(await boot(cp)).toMatchObject({ status: 'Accepted' });
    const r = await p.api<{ revoked: string[] }>('/api/v1/devices/CP3-B/certificates/revoke', { method: 'POST', json: {} });
    expect(r.body.revoked).toEqual([certs.get('CP3-B')!.fingerprint]);
    const closed = await waitFor(() => cp.closed, 'connection cut');
    expect(closed).toMatchObject({ code: 1008, reason: 'certificate revoked' });
    await refused('CP3-B', keys.get('CP3-B'), certs.get('CP3-B'), 'cert-revoked-or-unregistered');
    // The charger's key alone (profile 2) is a separate credential and still works.
    const p2 = await RawChargePoint.connect(gw.url, 'CP3-B', keys.get('CP3-B'), ['ocpp1.6'], tls());
    expect(await boot(p2)).toMatchObject({ status: 'Accepted' });
    p2.close();
  });

  it('YULAN_OCPP_TLS_CLIENT_CA needs the TLS listener and a readable file', () => {
    expect(() => loadOcppGatewayConfig({ ...p.env, YULAN_OCPP_TLS_CLIENT_CA: files['device-ca.pem']! })).toThrow(/YULAN_OCPP_TLS_CLIENT_CA: needs YULAN_OCPP_TLS_CERT/);
    expect(() => loadOcppGatewayConfig({ ...p.env, YULAN_OCPP_TLS_CERT: files['server.pem']!, YULAN_OCPP_TLS_KEY: files['server-key.pem']!, YULAN_OCPP_TLS_CLIENT_CA: '/nonexistent.pem' }))
      .toThrow(GatewayConfigError);
  });
});
