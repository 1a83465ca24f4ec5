import fs from 'node:fs';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IClientOptions, MqttClient } from 'mqtt';
import { ControlTopic, DeviceKind, deviceTopic } from '@yulan/protos';
import { loadBrokerConfig, startBroker, type BrokerHandle } from '../src/index.js';
import { createCa, issueCert, type PemPair } from '../../cli/src/dev-ca.js';
import { CLOUD_PASSWORD, EDGE_PASSWORD, FakeCertAuth, FakeDeviceAuth, logger, mqttClient, tempDir, testConfig, waitFor } from './helpers.js';

const DAY = 86_400_000;
const SITE = 'site-1';

function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();
}

describe('device certificates (mutual TLS) on the MQTT/TLS listener', () => {
  const dir = tempDir('mtls');
  const auth = new FakeDeviceAuth();
  const certAuth = new FakeCertAuth();
  let serverCa: PemPair;
  let deviceCa: PemPair;
  let broker: BrokerHandle;
  let url: string;

  async function deviceCert(id: string, o: { ca?: PemPair; notBefore?: Date; notAfter?: Date; register?: boolean } = {}): Promise<PemPair> {
    const pair = await issueCert(o.ca ?? deviceCa, { commonName: id, usage: 'client', ...(o.notBefore ? { notBefore: o.notBefore } : {}), ...(o.notAfter ? { notAfter: o.notAfter } : {}) });
    if (o.register !== false) certAuth.registered.set(id, { fingerprint: fingerprint(pair.certPem) });
    return pair;
  }

  function connect(pair: PemPair | undefined, opts: IClientOptions): Promise<MqttClient | Error> {
    return mqttClient(url, { ca: serverCa.certPem, ...(pair ? { cert: pair.certPem, key: pair.keyPem } : {}), ...opts }).catch((e: Error) => e);
  }

  beforeAll(async () => {
    serverCa = await createCa('test server CA');
    deviceCa = await createCa('test device CA');
    const leaf = await issueCert(serverCa, { commonName: 'localhost', usage: 'server', dnsNames: ['localhost'], ips: ['127.0.0.1'] });
    const files = { cert: path.join(dir, 'server.pem'), key: path.join(dir, 'server-key.pem'), ca: path.join(dir, 'device-ca.pem') };
    fs.writeFileSync(files.cert, leaf.certPem);
    fs.writeFileSync(files.key, leaf.keyPem, { mode: 0o600 });
    fs.writeFileSync(files.ca, deviceCa.certPem);
    auth.add('dev-secret');
    broker = await startBroker(await testConfig(dir, {
      YULAN_TLS_CERT_FILE: files.cert,
      YULAN_TLS_KEY_FILE: files.key,
      YULAN_DEVICE_CA_FILE: files.ca,
      YULAN_MQTTS_PORT: '0',
      YULAN_WSS_PORT: '0',
    }), logger, { deviceAuth: auth, deviceCertAuth: certAuth });
    url = `mqtts://127.0.0.1:${broker.mqttsPort}`;
  });
  afterAll(async () => {
    await broker?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('lets a device with a valid certificate in without a password, as the same device principal (ACL applies)', async () => {
    const pair = await deviceCert('dev-cert');
    const edge = await mqttClient(url, { clientId: 'edge:mtls', username: 'edge', password: EDGE_PASSWORD, ca: serverCa.certPem });
    const got: string[] = [];
    edge.on('message', (t, p) => got.push(`${t} ${p.toString()}`));
    await edge.subscribeAsync('yulan/v1/#', { qos: 1 });
    const logins = broker.metrics().certLogins;
    const dev = await connect(pair, { clientId: 'dev-cert' });
    if (dev instanceof Error) throw dev;
    expect(broker.metrics().certLogins).toBe(logins + 1);
    expect(certAuth.asked.at(-1)).toMatchObject({ deviceId: 'dev-cert', fingerprint: fingerprint(pair.certPem) });
    const own = deviceTopic({ site: SITE, kind: DeviceKind.ENV_MONITOR, deviceId: 'dev-cert' }, 'telemetry');
    const other = deviceTopic({ site: SITE, kind: DeviceKind.ENV_MONITOR, deviceId: 'dev-other' }, 'telemetry');
    const denied = broker.metrics().aclDenied.publish;
    await dev.publishAsync(other, Buffer.from('not mine'), { qos: 1 });
    await dev.publishAsync(own, Buffer.from('by certificate'), { qos: 1 });
    await waitFor(() => got.includes(`${own} by certificate`), 'the certificate device\'s telemetry');
    expect(broker.metrics().aclDenied.publish).toBe(denied + 1);
    expect(got.some((g) => g.startsWith(other))).toBe(false);
    // the username may be given, and must then be the CN
    await dev.endAsync();
    const named = await connect(pair, { clientId: 'dev-cert', username: 'dev-cert' });
    if (named instanceof Error) throw named;
    await Promise.all([named.endAsync(), edge.endAsync()]);
  });

  it('refuses expired, not-yet-valid, wrong-CA, unregistered and mismatched certificates, each with its reason counted', async () => {
    const now = Date.now();
    const cases: { name: string; pair: () => Promise<PemPair>; opts?: IClientOptions; counter: string }[] = [
      { name: 'expired', pair: () => deviceCert('dev-old', { notBefore: new Date(now - 30 * DAY), notAfter: new Date(now - DAY) }), counter: 'expired' },
      { name: 'not yet valid', pair: () => deviceCert('dev-early', { notBefore: new Date(now + DAY), notAfter: new Date(now + 30 * DAY) }), counter: 'notYetValid' },
      { name: 'wrong CA', pair: async () => deviceCert('dev-rogue', { ca: await createCa('a rogue CA') }), counter: 'untrusted' },
      { name: 'not registered', pair: () => deviceCert('dev-unknown', { register: false }), counter: 'notRegistered' },
      { name: 'username mismatch', pair: () => deviceCert('dev-named'), opts: { username: 'dev-secret' }, counter: 'wrongSubject' },
    ];
    for (const c of cases) {
      const before = broker.metrics().certRefused as Record<string, number>;
      const pair = await c.pair();
      const cn = new X509Certificate(pair.certPem).subject.replace(/^CN=/, '');
      const res = await connect(pair, { clientId: cn, ...c.opts });
      expect(res, c.name).toBeInstanceOf(Error);
      expect(String(res), c.name).toMatch(/not authorized/i);
      const after = broker.metrics().certRefused as Record<string, number>;
      expect(after[c.counter], c.name).toBe((before[c.counter] ?? 0) + 1);
    }
    // a subject that is no device id at all (never reaches the cloud)
    const asked = certAuth.asked.length;
    const odd = await issueCert(deviceCa, { commonName: 'not a device', usage: 'client' });
    const wrongSubject = broker.metrics().certRefused.wrongSubject;
    expect(String(await connect(odd, { clientId: 'dev-odd' }))).toMatch(/not authorized/i);
    expect(broker.metrics().certRefused.wrongSubject).toBe(wrongSubject + 1);
    expect(certAuth.asked.length).toBe(asked);
    // a registered device whose certificate is not the one the registry holds
    const replaced = await deviceCert('dev-replaced');
    await deviceCert('dev-replaced');
    const before = broker.metrics().certRefused.notRegistered;
    expect(await connect(replaced, { clientId: 'dev-replaced' })).toBeInstanceOf(Error);
    expect(broker.metrics().certRefused.notRegistered).toBe(before + 1);
  });

  it('a revocation pushed by the cloud cuts the live session at once and refuses the certificate after', async () => {
    const pair = await deviceCert('dev-revoked');
    const dev = await connect(pair, { clientId: 'dev-revoked' });
    if (dev instanceof Error) throw dev;
    let closed = false;
    dev.on('close', () => { closed = true; });
    const cloud = await mqttClient(url, { clientId: 'cloud:mtls', username: 'cloud', password: CLOUD_PASSWORD, ca: serverCa.certPem });
    // garbage first: counted, nothing revoked
    const errors = broker.metrics().protocolErrors;
    await cloud.publishAsync(ControlTopic.RevokeCert, Buffer.from('not a fingerprint'), { qos: 1 });
    await waitFor(() => broker.metrics().protocolErrors === errors + 1, 'the bad revoke-cert counted');
    expect(closed).toBe(false);
    // as `openssl x509 -fingerprint -sha256` prints it: upper case with colons
    await cloud.publishAsync(ControlTopic.RevokeCert, Buffer.from(new X509Certificate(pair.certPem).fingerprint256), { qos: 1 });
    await waitFor(() => closed, 'the revoked device disconnected');
    const before = broker.metrics().certRefused.revoked;
    const again = await connect(pair, { clientId: 'dev-revoked' });
    expect(String(again)).toMatch(/not authorized/i);
    expect(broker.metrics().certRefused.revoked).toBe(before + 1);
    // a new certificate for the same device is a different fingerprint: it gets in
    const renewed = await deviceCert('dev-revoked');
    const back = await connect(renewed, { clientId: 'dev-revoked' });
    if (back instanceof Error) throw back;
    await Promise.all([back.endAsync(), cloud.endAsync()]);
  });

  it('still lets a device with a secret in on the same listener, with or without a client certificate', async () => {
    const dev = await connect(undefined, { clientId: 'dev-secret', username: 'dev-secret', password: 'secret-dev-secret' });
    if (dev instanceof Error) throw dev;
    await dev.endAsync();
    const wrong = await connect(undefined, { clientId: 'dev-secret', username: 'dev-secret', password: 'wrong' });
    expect(String(wrong)).toMatch(/bad username or password/i);
  });

  it('refuses a device CA without TLS at start (the setting would silently do nothing)', () => {
    expect(() => loadBrokerConfig({ YULAN_CLOUD_URL: 'http://127.0.0.1:9', YULAN_BROKER_TOKEN: 'x'.repeat(32), YULAN_BROKER_ACCOUNTS_FILE: '/tmp/accounts.json', YULAN_DEVICE_CA_FILE: '/tmp/ca.pem' }))
      .toThrow(/YULAN_DEVICE_CA_FILE/);
  });
});
