import fs from 'node:fs';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type BrokerHandle } from '../../broker/src/index.js';
import { EDGE_PASSWORD, tempDir, testConfig } from '../../broker/test/helpers.js';
import { createCa, issueCert } from '../../cli/src/dev-ca.js';
import { makeDeviceCsr } from '../../cli/src/device-cert-csr.js';
import { openDeviceCerts, type DeviceCertsModule } from '../src/device-certs/index.js';
import { silentLogger, waitFor } from './helpers.js';
import { ClaimCloud, claimLogin, removeDir, requestIdentity } from './claims-support.js';

/**
 * A claim exchanged for a certificate: the device makes its key pair and sends only a CSR
 * over MQTT/TLS in its claim session; the cloud's device CA signs it for the serial; the
 * device then logs in by certificate, no password, and publishes.
 */
describe('provisioning by claim with a CSR (real broker on MQTT/TLS, real cloud)', () => {
  const dir = tempDir('claims-csr');
  let certs: DeviceCertsModule;
  let cloud: ClaimCloud;
  let broker: BrokerHandle;
  let caPem: string;
  let mqttsUrl: string;
  let edge: MqttClient;
  const seen: string[] = [];

  beforeAll(async () => {
    const serverCa = await createCa('claims server CA');
    const deviceCa = await createCa('claims device CA');
    const leaf = await issueCert(serverCa, { commonName: 'localhost', usage: 'server', dnsNames: ['localhost'], ips: ['127.0.0.1'] });
    const f = { cert: path.join(dir, 'server.pem'), key: path.join(dir, 'server-key.pem'), ca: path.join(dir, 'device-ca.pem'), caKey: path.join(dir, 'device-ca-key.pem') };
    fs.writeFileSync(f.cert, leaf.certPem);
    fs.writeFileSync(f.key, leaf.keyPem, { mode: 0o600 });
    fs.writeFileSync(f.ca, deviceCa.certPem);
    fs.writeFileSync(f.caKey, deviceCa.keyPem, { mode: 0o600 });
    caPem = serverCa.certPem;
    certs = await openDeviceCerts({ db: { kind: 'sqlite', file: path.join(dir, 'device-certs.sqlite') }, caCertFile: f.ca, caKeyFile: f.caKey, logger: silentLogger, mqtt: { publish: async () => undefined } });
    cloud = new ClaimCloud(dir, { certs });
    await cloud.start();
    broker = await startBroker(await testConfig(dir, {
      YULAN_CLOUD_URL: cloud.url, YULAN_TLS_CERT_FILE: f.cert, YULAN_TLS_KEY_FILE: f.key, YULAN_DEVICE_CA_FILE: f.ca, YULAN_MQTTS_PORT: '0', YULAN_WSS_PORT: '0',
    }), silentLogger);
    mqttsUrl = `mqtts://localhost:${broker.mqttsPort}`;
    edge = await connectAsync(`mqtt://127.0.0.1:${broker.mqttPort}`, { protocolVersion: 4, reconnectPeriod: 0, clientId: 'edge:csr', username: 'edge', password: EDGE_PASSWORD });
    edge.on('message', (topic) => seen.push(topic));
    await edge.subscribeAsync('yulan/v1/#', { qos: 1 });
  });
  afterAll(async () => {
    await edge?.endAsync();
    await broker?.close();
    await cloud?.stop();
    await certs?.close();
    removeDir(dir);
  });

  it('gets a certificate for its serial (no secret), then logs in with it and publishes', async () => {
    const { secret } = await cloud.createClaim({ id: 'chargers-tls', kind: 'ev-charger', site: 'site-5', count: 2, days: 30 });
    const { keyPem, csrPem } = await makeDeviceCsr('whatever-the-csr-says');
    const c = await connectAsync(mqttsUrl, { protocolVersion: 4, reconnectPeriod: 0, ca: caPem, clientId: 'claim:chargers-tls:CP-77', username: 'claim:chargers-tls', password: secret });
    const r = await requestIdentity(c, 'chargers-tls', 'CP-77', { csr: csrPem });
    await c.endAsync();
    if (!r.ok || r.certificate === undefined) throw new Error(`refused: ${JSON.stringify(r)}`);
    expect(r.secret).toBeUndefined();
    expect(r.device).toEqual({ id: 'CP-77', site: 'site-5', kind: 'ev-charger' });
    expect(new X509Certificate(r.certificate).subject).toBe('CN=CP-77');
    const dev = await connectAsync(mqttsUrl, { protocolVersion: 4, reconnectPeriod: 0, ca: caPem, clientId: 'CP-77', cert: r.certificate, key: keyPem });
    await dev.publishAsync('yulan/v1/site-5/ev-charger/CP-77/telemetry', Buffer.from('x'), { qos: 1 });
    await waitFor(() => seen.includes('yulan/v1/site-5/ev-charger/CP-77/telemetry'), 'the certificate device\'s telemetry');
    await dev.endAsync();
    expect(broker.metrics().certLogins).toBe(1);
  });

  it('a CSR that does not verify is refused as bad-csr and costs no slot', async () => {
    const { secret } = await cloud.createClaim({ id: 'chargers-bad', kind: 'ev-charger', site: 'site-5', count: 1, days: 30 });
    const c = await claimLogin(`mqtt://127.0.0.1:${broker.mqttPort}`, 'chargers-bad', 'CP-80', secret);
    expect(await requestIdentity(c, 'chargers-bad', 'CP-80', { csr: `-----BEGIN CERTIFICATE REQUEST-----\n${'A'.repeat(200)}\n-----END CERTIFICATE REQUEST-----\n` }))
      .toMatchObject({ ok: false, reason: 'bad-csr' });
    // the same session, a good request: the slot was still free
    expect((await requestIdentity(c, 'chargers-bad', 'CP-80', {})).ok).toBe(true);
    await c.endAsync();
  });
});
