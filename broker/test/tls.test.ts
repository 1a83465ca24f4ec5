import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceKind, deviceTopic } from '@yulan/protos';
import { loadBrokerConfig, startBroker, type BrokerHandle } from '../src/index.js';
import { createCa, issueCert, type PemPair } from '../../cli/src/dev-ca.js';
import { BROKER_TOKEN, EDGE_PASSWORD, FakeDeviceAuth, logger, mqttClient, tempDir, testConfig, waitFor } from './helpers.js';

const DEV = { site: 'site-1', kind: DeviceKind.ENV_MONITOR, deviceId: 'dev-tls' } as const;

async function serverCert(ca: PemPair): Promise<PemPair> {
  return issueCert(ca, { commonName: 'localhost', usage: 'server', dnsNames: ['localhost'], ips: ['127.0.0.1'] });
}

/** A raw TLS handshake; resolves with the error (or 'ok') instead of throwing. */
function handshake(port: number, opts: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...opts }, () => {
      s.destroy();
      resolve('ok');
    });
    s.on('error', (err: Error & { code?: string }) => resolve(err.code ?? err.message));
  });
}

describe('TLS listeners (MQTT/TLS, WSS)', () => {
  const dir = tempDir('tls');
  const certFile = path.join(dir, 'server.pem');
  const keyFile = path.join(dir, 'server-key.pem');
  const auth = new FakeDeviceAuth();
  let ca1: PemPair;
  let broker: BrokerHandle;

  beforeAll(async () => {
    auth.add(DEV.deviceId);
    ca1 = await createCa('test CA one');
    const leaf = await serverCert(ca1);
    fs.writeFileSync(certFile, leaf.certPem);
    fs.writeFileSync(keyFile, leaf.keyPem, { mode: 0o600 });
    broker = await startBroker(await testConfig(dir, {
      YULAN_TLS_CERT_FILE: certFile,
      YULAN_TLS_KEY_FILE: keyFile,
      YULAN_MQTTS_PORT: '0',
      YULAN_WSS_PORT: '0',
      YULAN_TLS_HANDSHAKE_TIMEOUT_MS: '500',
    }), logger, { deviceAuth: auth });
  });
  afterAll(async () => {
    await broker?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('carries MQTT over TLS and over WSS, verified against the CA, beside the plain listener', async () => {
    expect(broker.mqttsPort).toBeGreaterThan(0);
    const edge = await mqttClient(`mqtts://127.0.0.1:${broker.mqttsPort}`, { clientId: 'edge:tls', username: 'edge', password: EDGE_PASSWORD, ca: ca1.certPem });
    const got: string[] = [];
    edge.on('message', (_t, p) => got.push(p.toString()));
    await edge.subscribeAsync('yulan/v1/#', { qos: 1 });
    const dev = await mqttClient(`wss://127.0.0.1:${broker.wssPort}/mqtt`, { clientId: DEV.deviceId, username: DEV.deviceId, password: `secret-${DEV.deviceId}`, ca: ca1.certPem, wsOptions: { ca: ca1.certPem } });
    await dev.publishAsync(deviceTopic(DEV, 'telemetry'), Buffer.from('over-wss'), { qos: 1 });
    const plain = await mqttClient(`mqtt://127.0.0.1:${broker.mqttPort}`, { clientId: 'dev-plain', username: 'dev-plain', password: 'x' }).catch((e: Error) => e);
    // the plain listener still answers on loopback (a refusal, not a TLS error, is an answer)
    expect(String(plain)).toMatch(/Bad username or password/i);
    await waitFor(() => got.includes('over-wss'), 'message over WSS reaching the TLS subscriber');
    const m = await fetch(`https://127.0.0.1:${broker.wssPort}/healthz`).catch((e: Error) => e);
    // Node's fetch does not know the test CA: the certificate is really checked.
    expect(m).toBeInstanceOf(Error);
    await Promise.all([dev.endAsync(), edge.endAsync()]);
  });

  it('refuses TLS 1.0 and 1.1 clients, counts them, and keeps serving', async () => {
    const before = broker.metrics().tlsRefused.protocolVersion;
    // SECLEVEL=0 lets this OpenSSL offer the old protocols at all.
    const old = { rejectUnauthorized: false, ciphers: 'DEFAULT@SECLEVEL=0' };
    expect(await handshake(broker.mqttsPort!, { ...old, minVersion: 'TLSv1', maxVersion: 'TLSv1' })).not.toBe('ok');
    expect(await handshake(broker.mqttsPort!, { ...old, minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1' })).not.toBe('ok');
    await waitFor(() => broker.metrics().tlsRefused.protocolVersion >= before + 2, 'two protocol-version refusals');
    expect(await handshake(broker.mqttsPort!, { ca: ca1.certPem, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' })).toBe('ok');
    expect(await handshake(broker.mqttsPort!, { ca: ca1.certPem, minVersion: 'TLSv1.3' })).toBe('ok');
  });

  it('refuses garbage and stalled handshakes, counts them, and the broker is unaffected', async () => {
    const before = broker.metrics().tlsRefused;
    const garbage = net.connect(broker.mqttsPort!, '127.0.0.1');
    garbage.on('error', () => undefined);
    garbage.write(Buffer.from('\x10\x0c\x00\x04MQTTnot a TLS hello at all'));
    await new Promise((r) => garbage.once('close', r));
    const stalled = net.connect(broker.wssPort!, '127.0.0.1');
    stalled.on('error', () => undefined);
    // nothing sent: the handshake timeout (500 ms here) must close it
    await new Promise((r) => stalled.once('close', r));
    await waitFor(() => broker.metrics().tlsRefused.timeout >= before.timeout + 1, 'a handshake timeout counted');
    const after = broker.metrics().tlsRefused;
    expect(after.notTls + after.other).toBeGreaterThan(before.notTls + before.other);
    const dev = await mqttClient(`mqtts://127.0.0.1:${broker.mqttsPort}`, { clientId: DEV.deviceId, username: DEV.deviceId, password: `secret-${DEV.deviceId}`, ca: ca1.certPem });
    await dev.publishAsync(deviceTopic(DEV, 'telemetry'), Buffer.from('still fine'), { qos: 1 });
    await dev.endAsync();
  });

  it('reloads a changed certificate without dropping live sessions', async () => {
    const edge = await mqttClient(`mqtts://127.0.0.1:${broker.mqttsPort}`, { clientId: 'edge:reload', username: 'edge', password: EDGE_PASSWORD, ca: ca1.certPem });
    const got: string[] = [];
    edge.on('message', (_t, p) => got.push(p.toString()));
    await edge.subscribeAsync('yulan/v1/#', { qos: 1 });
    let closedEarly = false;
    edge.on('close', () => { closedEarly = true; });
    const ca2 = await createCa('test CA two');
    const leaf = await serverCert(ca2);
    const reloads = broker.metrics().tlsReloads;
    // key first, then certificate (the order a careful renewal tool uses)
    fs.writeFileSync(keyFile, leaf.keyPem, { mode: 0o600 });
    fs.writeFileSync(certFile, leaf.certPem);
    await waitFor(() => broker.metrics().tlsReloads > reloads, 'the certificate reload', 20_000);
    // new handshakes present the new certificate: CA two is trusted, CA one is not
    const fresh = await mqttClient(`mqtts://127.0.0.1:${broker.mqttsPort}`, { clientId: DEV.deviceId, username: DEV.deviceId, password: `secret-${DEV.deviceId}`, ca: ca2.certPem });
    expect(await handshake(broker.mqttsPort!, { ca: ca1.certPem })).toMatch(/CERT|SIGNATURE|ISSUER/i);
    await fresh.publishAsync(deviceTopic(DEV, 'telemetry'), Buffer.from('after-reload'), { qos: 1 });
    // the subscriber connected before the reload still receives
    await waitFor(() => got.includes('after-reload'), 'delivery to the pre-reload session');
    expect(closedEarly).toBe(false);
    await Promise.all([fresh.endAsync(), edge.endAsync()]);
  });

  it('reloads on SIGHUP, and keeps the old certificate when the new pair does not match', async () => {
    const reloads = broker.metrics().tlsReloads;
    process.emit('SIGHUP', 'SIGHUP');
    await waitFor(() => broker.metrics().tlsReloads === reloads + 1, 'a SIGHUP reload');
    // a certificate whose key is not (yet) there: refused, the running one stays
    const ca3 = await createCa('test CA three');
    const lone = await serverCert(ca3);
    const current = fs.readFileSync(certFile);
    fs.writeFileSync(certFile, lone.certPem);
    process.emit('SIGHUP', 'SIGHUP');
    expect(broker.metrics().tlsReloads).toBe(reloads + 1);
    expect(await handshake(broker.mqttsPort!, { ca: ca3.certPem })).not.toBe('ok');
    fs.writeFileSync(certFile, current);
  });

  it('validates the TLS variables and keeps plain listeners on loopback unless opened', () => {
    const base = {
      YULAN_CLOUD_URL: 'http://127.0.0.1:9', YULAN_BROKER_TOKEN: BROKER_TOKEN, YULAN_BROKER_ACCOUNTS_FILE: '/nonexistent',
      YULAN_MQTT_HOST: '0.0.0.0',
    };
    expect(loadBrokerConfig(base).plainHost).toBe('127.0.0.1');
    expect(loadBrokerConfig({ ...base, YULAN_PLAIN_PUBLIC: 'true' }).plainHost).toBe('0.0.0.0');
    expect(loadBrokerConfig({ ...base, YULAN_MQTT_HOST: '127.0.0.1' }).plainHost).toBe('127.0.0.1');
    expect(() => loadBrokerConfig({ ...base, YULAN_TLS_CERT_FILE: certFile })).toThrow(/YULAN_TLS_KEY_FILE/);
    expect(() => loadBrokerConfig({ ...base, YULAN_TLS_HANDSHAKE_TIMEOUT_MS: '5' })).toThrow(/YULAN_TLS_HANDSHAKE_TIMEOUT_MS/);
  });

  it('refuses to start with a key that does not match the certificate', async () => {
    const other = await serverCert(ca1);
    const badKey = path.join(dir, 'other-key.pem');
    fs.writeFileSync(badKey, other.keyPem, { mode: 0o600 });
    const cfg = await testConfig(dir, { YULAN_TLS_CERT_FILE: certFile, YULAN_TLS_KEY_FILE: badKey, YULAN_MQTTS_PORT: '0', YULAN_WSS_PORT: '0' });
    await expect(startBroker(cfg, logger, { deviceAuth: auth })).rejects.toThrow(/key values mismatch|key/i);
  });
});
