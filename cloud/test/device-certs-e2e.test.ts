import fs from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type BrokerHandle } from '../../broker/src/index.js';
import { BROKER_TOKEN, CLOUD_PASSWORD, tempDir as brokerTempDir, testConfig } from '../../broker/test/helpers.js';
import { createCa, issueCert, type PemPair } from '../../cli/src/dev-ca.js';
import { makeDeviceCsr } from '../../cli/src/device-cert-csr.js';
import { deviceCertCommand } from '../../cli/src/commands/device-cert.js';
import { PassThrough } from 'node:stream';
import { buildApp } from '../src/app.js';
import { digestToken } from '../src/auth-tokens.js';
import { createHttpEdgeClient } from '../src/edge-client.js';
import { openDeviceCerts, type DeviceCertsModule } from '../src/device-certs/index.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import { deadUrl, silentLogger, waitFor } from './helpers.js';

const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
const auth = { authorization: `Bearer ${ADMIN}` };

/**
 * The whole path with real parts: the cloud's API signs a CSR made client-side, the real
 * broker checks the device's client certificate on MQTT/TLS against the device CA and asks
 * the cloud's device-cert-auth over HTTP, and a revocation goes over the cloud's MQTT link.
 */
describe('device certificates end to end (cloud API, real broker, real TLS clients)', () => {
  const dir = brokerTempDir('certs-e2e');
  let serverCa: PemPair;
  let deviceCa: PemPair;
  let certs: DeviceCertsModule;
  let app: FastifyInstance;
  let broker: BrokerHandle;
  let link: MqttClient;
  let mqttsUrl: string;
  let cloudUrl: string;
  const post = (url: string, payload?: object) => app.inject({ method: 'POST', url, headers: auth, ...(payload ? { payload } : {}) });

  async function issue(id: string): Promise<{ keyPem: string; certificate: string; fingerprint: string }> {
    const { keyPem, csrPem } = await makeDeviceCsr(id);
    const r = await post(`/api/v1/devices/${id}/certificates`, { csr: csrPem });
    expect(r.statusCode, r.body).toBe(201);
    const body = r.json() as { certificate: string; fingerprint: string; caCertificate: string };
    expect(body.caCertificate).toBe(deviceCa.certPem);
    expect(r.body).not.toContain('PRIVATE KEY');
    return { keyPem, certificate: body.certificate, fingerprint: body.fingerprint };
  }

  function device(id: string, c: { keyPem: string; certificate: string } | undefined, opts: IClientOptions = {}): Promise<MqttClient | Error> {
    return connectAsync(mqttsUrl, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, clientId: id, ca: serverCa.certPem, ...(c ? { cert: c.certificate, key: c.keyPem } : {}), ...opts })
      .catch((e: Error) => e);
  }

  beforeAll(async () => {
    serverCa = await createCa('e2e server CA');
    deviceCa = await createCa('e2e device CA');
    const leaf = await issueCert(serverCa, { commonName: 'localhost', usage: 'server', dnsNames: ['localhost'], ips: ['127.0.0.1'] });
    const f = { cert: path.join(dir, 'server.pem'), key: path.join(dir, 'server-key.pem'), ca: path.join(dir, 'device-ca.pem'), caKey: path.join(dir, 'device-ca-key.pem') };
    fs.writeFileSync(f.cert, leaf.certPem);
    fs.writeFileSync(f.key, leaf.keyPem, { mode: 0o600 });
    fs.writeFileSync(f.ca, deviceCa.certPem);
    fs.writeFileSync(f.caKey, deviceCa.keyPem, { mode: 0o600 });

    // The cloud first (the broker needs its URL); its MQTT link connects once the broker is up.
    let publishLink: ((topic: string, payload: Uint8Array) => Promise<void>) | undefined;
    certs = await openDeviceCerts({
      db: { kind: 'sqlite', file: path.join(dir, 'device-certs.sqlite') }, caCertFile: f.ca, caKeyFile: f.caKey, logger: silentLogger,
      mqtt: { publish: async (topic, payload) => { if (!publishLink) throw new Error('link down'); await publishLink(topic, payload); } },
    });
    const devices = new SqliteDeviceRepository({ file: ':memory:' });
    app = await buildApp({
      logger: silentLogger, devices, edge: createHttpEdgeClient({ baseUrl: await deadUrl(), token: 't' }),
      control: { connected: () => true, publishRevoke: async () => undefined },
      adminTokenDigest: digestToken(ADMIN), brokerToken: BROKER_TOKEN, dashboardDir: null, deviceCerts: certs,
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    cloudUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    broker = await startBroker(await testConfig(dir, {
      YULAN_CLOUD_URL: cloudUrl, YULAN_TLS_CERT_FILE: f.cert, YULAN_TLS_KEY_FILE: f.key, YULAN_DEVICE_CA_FILE: f.ca, YULAN_MQTTS_PORT: '0', YULAN_WSS_PORT: '0',
    }), silentLogger);
    mqttsUrl = `mqtts://127.0.0.1:${broker.mqttsPort}`;
    link = await connectAsync(mqttsUrl, { protocolVersion: 4, reconnectPeriod: 0, clientId: 'cloud:e2e', username: 'cloud', password: CLOUD_PASSWORD, ca: serverCa.certPem });
    publishLink = async (topic, payload) => void (await link.publishAsync(topic, Buffer.from(payload), { qos: 1 }));
    for (const [id, site] of [['dev-a', 'site-1'], ['dev-b', 'site-1'], ['dev-s', 'site-1']]) {
      expect((await post('/api/v1/devices', { id, site, kind: 'env-monitor' })).statusCode).toBe(201);
    }
  });
  afterAll(async () => {
    await link?.endAsync();
    await broker?.close();
    await app?.close();
    await certs?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a device with an issued certificate connects without a password; a certificate the cloud did not issue for it does not', async () => {
    const a = await issue('dev-a');
    const dev = await device('dev-a', a);
    if (dev instanceof Error) throw dev;
    expect(broker.metrics().certLogins).toBe(1);
    await dev.publishAsync('yulan/v1/site-1/env-monitor/dev-a/telemetry', Buffer.from('x'), { qos: 1 });
    await dev.endAsync();
    // signed by the right CA but never registered with the cloud (made outside the API)
    const stray = await issueCert(deviceCa, { commonName: 'dev-b', usage: 'client' });
    const refused = await device('dev-b', { keyPem: stray.keyPem, certificate: stray.certPem });
    expect(String(refused)).toMatch(/not authorized/i);
    expect(broker.metrics().certRefused.notRegistered).toBe(1);
    // the admin may not issue for a device that does not exist
    const { csrPem } = await makeDeviceCsr('dev-none');
    expect((await post('/api/v1/devices/dev-none/certificates', { csr: csrPem })).statusCode).toBe(404);
    expect((await post('/api/v1/devices/dev-a/certificates', { csr: 'x'.repeat(200) })).statusCode).toBe(400);
  });

  it('revoking through the API cuts the live session at once and the certificate stays refused; a new one works', async () => {
    const b = await issue('dev-b');
    const dev = await device('dev-b', b);
    if (dev instanceof Error) throw dev;
    let closed = false;
    dev.on('close', () => { closed = true; });
    const r = await post('/api/v1/devices/dev-b/certificates/revoke', {});
    expect(r.json()).toEqual({ revoked: [b.fingerprint], push: 'published' });
    await waitFor(() => closed, 'the revoked device cut');
    expect(String(await device('dev-b', b))).toMatch(/not authorized/i);
    expect(broker.metrics().certRefused.revoked).toBe(1);
    // again: nothing left to revoke
    expect((await post('/api/v1/devices/dev-b/certificates/revoke', {})).statusCode).toBe(404);
    const listed = (await app.inject({ url: '/api/v1/devices/dev-b/certificates', headers: auth })).json() as { items: { fingerprint: string; revokedAt: string | null }[] };
    expect(listed.items).toEqual([expect.objectContaining({ fingerprint: b.fingerprint, revokedAt: expect.any(String) })]);
    const renewed = await issue('dev-b');
    const back = await device('dev-b', renewed);
    if (back instanceof Error) throw back;
    await back.endAsync();
  });

  it('a disabled device is refused by certificate; a device with a secret still logs in with it', async () => {
    const a = await issue('dev-a');
    expect((await post('/api/v1/devices/dev-a/disable')).statusCode).toBe(200);
    expect(String(await device('dev-a', a))).toMatch(/not authorized/i);
    const rotated = await post('/api/v1/devices/dev-s/rotate-secret');
    const secret = (rotated.json() as { secret: string }).secret;
    const s = await device('dev-s', undefined, { username: 'dev-s', password: secret });
    if (s instanceof Error) throw s;
    await s.endAsync();
  });

  it('yulan device cert issue writes a key only this side ever saw; the device connects with the files; revoke cuts it', async () => {
    const run = async (args: string[]): Promise<{ code: number; out: string; err: string }> => {
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      const chunks: string[] = [];
      const errs: string[] = [];
      stdout.on('data', (c: Buffer) => chunks.push(c.toString()));
      stderr.on('data', (c: Buffer) => errs.push(c.toString()));
      const code = await deviceCertCommand(args, { env: { YULAN_CLOUD_URL: cloudUrl, YULAN_ADMIN_TOKEN: ADMIN }, stdout: stdout as never, stderr: stderr as never });
      return { code, out: chunks.join(''), err: errs.join('') };
    };
    const out = path.join(dir, 'cli-out');
    const issued = await run(['issue', 'dev-s', '--out', out, '--json']);
    expect(issued.code, issued.err).toBe(0);
    const files = (JSON.parse(issued.out) as { files: { key: string; cert: string; ca: string } }).files;
    expect(fs.statSync(files.key).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(files.ca, 'utf8')).toBe(deviceCa.certPem);
    const dev = await device('dev-s', { keyPem: fs.readFileSync(files.key, 'utf8'), certificate: fs.readFileSync(files.cert, 'utf8') }, { username: 'dev-s' });
    if (dev instanceof Error) throw dev;
    let closed = false;
    dev.on('close', () => { closed = true; });
    const revoked = await run(['revoke', 'dev-s']);
    expect(revoked.out).toMatch(/revoked 1 certificate/);
    await waitFor(() => closed, 'the device cut after yulan device cert revoke');
    await expect(run(['issue'])).rejects.toThrow(/exactly one device id/);
  });
});
