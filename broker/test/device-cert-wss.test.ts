import fs from 'node:fs';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IClientOptions, MqttClient } from 'mqtt';
import { ControlTopic, DeviceKind, deviceTopic } from '@yulan/protos';
import { startBroker, type BrokerHandle } from '../src/index.js';
import { DeviceAuthOutcome, type DeviceAuthResult } from '../src/device-auth.js';
import type { DeviceCertAuthenticator } from '../src/device-cert.js';
import { createCa, issueCert, type PemPair } from '../../cli/src/dev-ca.js';
import { CLOUD_PASSWORD, EDGE_PASSWORD, FakeDeviceAuth, logger, mqttClient, tempDir, testConfig, waitFor } from './helpers.js';

/**
 * Device certificates over MQTT on secure WebSocket (wss://…/mqtt): the WSS listener
 * requests a client certificate as the MQTT/TLS one does, and the broker reads it under
 * the WebSocket (the upgrade request's TLS socket). A device logs in by certificate with
 * no password, its ACL applies, a wrong-CA certificate is refused and counted, and a
 * pushed revocation cuts the WSS session.
 */
const SITE = 'site-1';
const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();

class FakeCertAuth implements DeviceCertAuthenticator {
  readonly registered = new Map<string, string>();
  async authenticate(deviceId: string, cert: { fingerprint: string; serial: string }): Promise<DeviceAuthResult> {
    if (this.registered.get(deviceId) !== cert.fingerprint) return { outcome: DeviceAuthOutcome.Denied, reason: 'bad-credentials' };
    return { outcome: DeviceAuthOutcome.Ok, device: { id: deviceId, site: SITE, kind: DeviceKind.ENV_MONITOR }, source: 'cloud' };
  }
}

describe('device certificates on the WSS listener', () => {
  const dir = tempDir('mtls-wss');
  const certAuth = new FakeCertAuth();
  let serverCa: PemPair; let deviceCa: PemPair; let broker: BrokerHandle;
  let wss = ''; let mqtts = '';

  async function deviceCert(id: string, ca = deviceCa): Promise<PemPair> {
    const pair = await issueCert(ca, { commonName: id, usage: 'client' });
    certAuth.registered.set(id, fingerprint(pair.certPem));
    return pair;
  }
  const overWss = (pair: PemPair, opts: IClientOptions): Promise<MqttClient | Error> =>
    mqttClient(wss, { ca: serverCa.certPem, cert: pair.certPem, key: pair.keyPem, ...opts }).catch((e: Error) => e);

  beforeAll(async () => {
    serverCa = await createCa('test server CA');
    deviceCa = await createCa('test device CA');
    const leaf = await issueCert(serverCa, { commonName: 'localhost', usage: 'server', dnsNames: ['localhost'], ips: ['127.0.0.1'] });
    const files = { cert: path.join(dir, 'server.pem'), key: path.join(dir, 'server-key.pem'), ca: path.join(dir, 'device-ca.pem') };
    fs.writeFileSync(files.cert, leaf.certPem);
    fs.writeFileSync(files.key, leaf.keyPem, { mode: 0o600 });
    fs.writeFileSync(files.ca, deviceCa.certPem);
    broker = await startBroker(await testConfig(dir, {
      YULAN_TLS_CERT_FILE: files.cert, YULAN_TLS_KEY_FILE: files.key, YULAN_DEVICE_CA_FILE: files.ca, YULAN_MQTTS_PORT: '0', YULAN_WSS_PORT: '0',
    }), logger, { deviceAuth: new FakeDeviceAuth(), deviceCertAuth: certAuth });
    wss = `wss://127.0.0.1:${broker.wssPort}/mqtt`;
    mqtts = `mqtts://127.0.0.1:${broker.mqttsPort}`;
  });
  afterAll(async () => {
    await broker?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a device logs in over WSS with its certificate and no password; its ACL applies', async () => {
    const pair = await deviceCert('dev-wss');
    const edge = await mqttClient(mqtts, { clientId: 'edge:wss', username: 'edge', password: EDGE_PASSWORD, ca: serverCa.certPem });
    const got: string[] = [];
    edge.on('message', (t, p) => got.push(`${t} ${p.toString()}`));
    await edge.subscribeAsync('yulan/v1/#', { qos: 1 });
    const logins = broker.metrics().certLogins;
    const dev = await overWss(pair, { clientId: 'dev-wss' });
    if (dev instanceof Error) throw dev;
    expect(broker.metrics().certLogins).toBe(logins + 1);
    const own = deviceTopic({ site: SITE, kind: DeviceKind.ENV_MONITOR, deviceId: 'dev-wss' }, 'telemetry');
    const other = deviceTopic({ site: SITE, kind: DeviceKind.ENV_MONITOR, deviceId: 'dev-else' }, 'telemetry');
    const denied = broker.metrics().aclDenied.publish;
    await dev.publishAsync(other, Buffer.from('not mine'), { qos: 1 });
    await dev.publishAsync(own, Buffer.from('over wss'), { qos: 1 });
    await waitFor(() => got.includes(`${own} over wss`), 'the device\'s own telemetry delivered');
    expect(broker.metrics().aclDenied.publish).toBe(denied + 1);
    expect(got.some((g) => g.startsWith(other))).toBe(false);
    await Promise.all([dev.endAsync(), edge.endAsync()]);
  });

  it('refuses a certificate from another CA over WSS, counted as untrusted', async () => {
    const rogue = await deviceCert('dev-rogue-wss', await createCa('a rogue CA'));
    const before = broker.metrics().certRefused.untrusted;
    const res = await overWss(rogue, { clientId: 'dev-rogue-wss' });
    expect(res).toBeInstanceOf(Error);
    expect(String(res)).toMatch(/not authorized/i);
    expect(broker.metrics().certRefused.untrusted).toBe(before + 1);
  });

  it('a pushed revocation cuts the WSS session and refuses the certificate after', async () => {
    const pair = await deviceCert('dev-wss-revoked');
    const dev = await overWss(pair, { clientId: 'dev-wss-revoked' });
    if (dev instanceof Error) throw dev;
    let closed = false;
    dev.on('close', () => { closed = true; });
    const cloud = await mqttClient(mqtts, { clientId: 'cloud:wss', username: 'cloud', password: CLOUD_PASSWORD, ca: serverCa.certPem });
    await cloud.publishAsync(ControlTopic.RevokeCert, Buffer.from(fingerprint(pair.certPem)), { qos: 1 });
    await waitFor(() => closed, 'the revoked WSS session closed');
    const before = broker.metrics().certRefused.revoked;
    expect(String(await overWss(pair, { clientId: 'dev-wss-revoked' }))).toMatch(/not authorized/i);
    expect(broker.metrics().certRefused.revoked).toBe(before + 1);
    await cloud.endAsync();
  });
});
