import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certRotationTopics, type CertRotationReply } from '@yulan/protos';
import { startBroker, type BrokerHandle } from '../../broker/src/index.js';
import { BROKER_TOKEN, CLOUD_PASSWORD, subackCodes, tempDir as brokerTempDir, testConfig } from '../../broker/test/helpers.js';
import { createCa, issueCert, type PemPair } from '../../cli/src/dev-ca.js';
import { makeDeviceCsr } from '../../cli/src/device-cert-csr.js';
import { deviceCertCommand } from '../../cli/src/commands/device-cert.js';
import { buildApp } from '../src/app.js';
import { digestToken } from '../src/auth-tokens.js';
import { createHttpEdgeClient } from '../src/edge-client.js';
import { openDeviceCerts, type DeviceCertsModule } from '../src/device-certs/index.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import { ensureClientCerts } from '../../device-sims/src/device-certs.js';
import { deadUrl, silentLogger, waitFor } from './helpers.js';

const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
const auth = { authorization: `Bearer ${ADMIN}` };
interface Held { keyPem: string; certificate: string; fingerprint: string }
interface Listed { fingerprint: string; status: string; replacedBy: string | null; firstUsedAt: string | null; retiredAt: string | null }

/**
 * Certificate rotation before expiry without downtime, with real parts: a device asks over
 * its own MQTT/TLS session, the broker asks the cloud with the certificate the handshake
 * proved, the old certificate works until the new one is first used, then never again.
 */
describe('device certificate rotation (cloud API, real broker, real TLS clients)', () => {
  const dir = brokerTempDir('certs-rotate');
  let serverCa: PemPair;
  let certs: DeviceCertsModule;
  let app: FastifyInstance;
  let broker: BrokerHandle;
  let link: MqttClient;
  let mqttsUrl: string;
  let cloudUrl: string;
  const post = (url: string, payload?: object, headers = auth) => app.inject({ method: 'POST', url, headers, ...(payload ? { payload } : {}) });
  const list = async (id: string): Promise<Listed[]> => ((await app.inject({ url: `/api/v1/devices/${id}/certificates`, headers: auth })).json() as { items: Listed[] }).items;
  const statusOf = async (id: string, fp: string): Promise<string | undefined> => (await list(id)).find((c) => c.fingerprint === fp)?.status;

  async function issue(id: string): Promise<Held> {
    const { keyPem, csrPem } = await makeDeviceCsr(id);
    const r = await post(`/api/v1/devices/${id}/certificates`, { csr: csrPem });
    expect(r.statusCode, r.body).toBe(201);
    const body = r.json() as { certificate: string; fingerprint: string };
    return { keyPem, certificate: body.certificate, fingerprint: body.fingerprint };
  }

  function device(id: string, c: { keyPem: string; certificate: string } | undefined, opts: IClientOptions = {}): Promise<MqttClient | Error> {
    return connectAsync(mqttsUrl, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, clientId: id, ca: serverCa.certPem, ...(c ? { cert: c.certificate, key: c.keyPem } : {}), ...opts })
      .catch((e: Error) => e);
  }

  /** Asks for a new certificate over the device's own session; resolves with the reply. */
  async function rotateOverMqtt(dev: MqttClient, id: string, csr: string, requestId = 'r1'): Promise<CertRotationReply> {
    const t = certRotationTopics(id);
    const reply = new Promise<CertRotationReply>((resolve) => dev.on('message', (topic, payload) => {
      if (topic === t.reply) resolve(JSON.parse(payload.toString()) as CertRotationReply);
    }));
    expect(await subackCodes(dev, [t.reply])).toEqual([1]);
    await dev.publishAsync(t.request, Buffer.from(JSON.stringify({ csr, requestId })), { qos: 1 });
    return reply;
  }

  beforeAll(async () => {
    serverCa = await createCa('rotation server CA');
    const deviceCa = await createCa('rotation device CA');
    const leaf = await issueCert(serverCa, { commonName: 'localhost', usage: 'server', dnsNames: ['localhost'], ips: ['127.0.0.1'] });
    const f = { cert: path.join(dir, 'server.pem'), key: path.join(dir, 'server-key.pem'), ca: path.join(dir, 'device-ca.pem'), caKey: path.join(dir, 'device-ca-key.pem') };
    fs.writeFileSync(f.cert, leaf.certPem);
    fs.writeFileSync(f.key, leaf.keyPem, { mode: 0o600 });
    fs.writeFileSync(f.ca, deviceCa.certPem);
    fs.writeFileSync(f.caKey, deviceCa.keyPem, { mode: 0o600 });
    let publishLink: ((topic: string, payload: Uint8Array) => Promise<void>) | undefined;
    certs = await openDeviceCerts({
      db: { kind: 'sqlite', file: path.join(dir, 'device-certs.sqlite') }, caCertFile: f.ca, caKeyFile: f.caKey, logger: silentLogger,
      mqtt: { publish: async (topic, payload) => { if (!publishLink) throw new Error('link down'); await publishLink(topic, payload); } },
    });
    app = await buildApp({
      logger: silentLogger, devices: new SqliteDeviceRepository({ file: ':memory:' }), edge: createHttpEdgeClient({ baseUrl: await deadUrl(), token: 't' }),
      control: { connected: () => true, publishRevoke: async () => undefined },
      adminTokenDigest: digestToken(ADMIN), brokerToken: BROKER_TOKEN, dashboardDir: null, deviceCerts: certs,
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    cloudUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    broker = await startBroker(await testConfig(dir, {
      YULAN_CLOUD_URL: cloudUrl, YULAN_TLS_CERT_FILE: f.cert, YULAN_TLS_KEY_FILE: f.key, YULAN_DEVICE_CA_FILE: f.ca, YULAN_MQTTS_PORT: '0', YULAN_WSS_PORT: '0',
    }), silentLogger);
    mqttsUrl = `mqtts://127.0.0.1:${broker.mqttsPort}`;
    link = await connectAsync(mqttsUrl, { protocolVersion: 4, reconnectPeriod: 0, clientId: 'cloud:rotate', username: 'cloud', password: CLOUD_PASSWORD, ca: serverCa.certPem });
    publishLink = async (topic, payload) => void (await link.publishAsync(topic, Buffer.from(payload), { qos: 1 }));
    for (const id of ['dev-a', 'dev-b', 'dev-c', 'dev-s', 'dev-g', 'dev-r']) {
      expect((await post('/api/v1/devices', { id, site: 'site-1', kind: 'env-monitor' })).statusCode).toBe(201);
    }
  });
  afterAll(async () => {
    await link?.endAsync();
    await broker?.close();
    await app?.close();
    await certs?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('rotates over the live session without dropping it; the old certificate is retired at the new one\'s first use', async () => {
    const old = await issue('dev-a');
    const dev = await device('dev-a', old);
    if (dev instanceof Error) throw dev;
    let closes = 0;
    dev.on('close', () => { closes++; });
    const next = await makeDeviceCsr('dev-a');
    const reply = await rotateOverMqtt(dev, 'dev-a', next.csrPem);
    if (!reply.ok) throw new Error(`rotation refused: ${reply.error} ${reply.message}`);
    expect(reply.requestId).toBe('r1');
    expect(reply.fingerprint).not.toBe(old.fingerprint);
    // the session carries on: a QoS 1 publish is still acknowledged on it
    await dev.publishAsync('yulan/v1/site-1/env-monitor/dev-a/telemetry', Buffer.from('x'), { qos: 1 });
    expect(dev.connected).toBe(true);
    expect(closes).toBe(0);
    expect(broker.metrics().certRotations).toMatchObject({ requests: 1, issued: 1 });
    expect(await statusOf('dev-a', old.fingerprint)).toBe('retiring');
    expect(await statusOf('dev-a', reply.fingerprint)).toBe('active');
    // until the new certificate is used, the old one still logs in (a device that lost the reply)
    await dev.endAsync();
    const again = await device('dev-a', old);
    if (again instanceof Error) throw again;
    await again.endAsync();

    const renewed = await device('dev-a', { keyPem: next.keyPem, certificate: reply.certificate });
    if (renewed instanceof Error) throw renewed;
    await waitFor(async () => (await statusOf('dev-a', old.fingerprint)) === 'retired', 'the old certificate retired');
    const refusedBefore = broker.metrics().certRefused;
    expect(String(await device('dev-a', old, { clientId: 'dev-a-old' }))).toMatch(/not authorized/i);
    const refusedAfter = broker.metrics().certRefused;
    expect(refusedAfter.revoked + refusedAfter.notRegistered).toBe(refusedBefore.revoked + refusedBefore.notRegistered + 1);
    // the new certificate keeps working after the old one is gone
    await renewed.publishAsync('yulan/v1/site-1/env-monitor/dev-a/telemetry', Buffer.from('y'), { qos: 1 });
    await renewed.endAsync();
    const listed = await list('dev-a');
    expect(listed.find((c) => c.fingerprint === old.fingerprint)).toMatchObject({ replacedBy: reply.fingerprint, retiredAt: expect.any(String) });
    expect(listed.find((c) => c.fingerprint === reply.fingerprint)?.firstUsedAt).toEqual(expect.any(String));
  });

  it('asking twice keeps only the newest answer: the unused first successor is revoked', async () => {
    const cur = await issue('dev-c');
    const dev = await device('dev-c', cur);
    if (dev instanceof Error) throw dev;
    const first = await rotateOverMqtt(dev, 'dev-c', (await makeDeviceCsr('dev-c')).csrPem, 'one');
    dev.removeAllListeners('message');
    const second = await rotateOverMqtt(dev, 'dev-c', (await makeDeviceCsr('dev-c')).csrPem, 'two');
    if (!first.ok || !second.ok) throw new Error('rotation refused');
    expect(second.requestId).toBe('two');
    expect(await statusOf('dev-c', first.fingerprint)).toBe('revoked');
    expect(await statusOf('dev-c', second.fingerprint)).toBe('active');
    expect(await statusOf('dev-c', cur.fingerprint)).toBe('retiring');
    await dev.endAsync();
  });

  it('another device\'s certificate cannot rotate for this device, over MQTT or at the cloud', async () => {
    const a = (await list('dev-a')).find((c) => c.status === 'active')!;
    const b = await issue('dev-b');
    const dev = await device('dev-b', b);
    if (dev instanceof Error) throw dev;
    // the ACL: dev-b may neither read dev-a's replies nor ask on dev-a's request topic
    expect(await subackCodes(dev, [certRotationTopics('dev-a').reply])).toEqual([128]);
    const denied = broker.metrics().aclDenied.publish;
    await dev.publishAsync(certRotationTopics('dev-a').request, Buffer.from(JSON.stringify({ csr: (await makeDeviceCsr('dev-a')).csrPem })), { qos: 1 });
    expect(broker.metrics().aclDenied.publish).toBe(denied + 1);
    await dev.endAsync();
    // the cloud: dev-b's certificate named for dev-a is refused (as the broker never sends it)
    const r = await post('/api/v1/internal/device-cert-rotate', { deviceId: 'dev-a', fingerprint: b.fingerprint, csr: (await makeDeviceCsr('dev-a')).csrPem }, { authorization: `Bearer ${BROKER_TOKEN}` });
    expect(r.statusCode).toBe(401);
    expect((await list('dev-a')).filter((c) => c.status === 'active').map((c) => c.fingerprint)).toEqual([a.fingerprint]);
    // and only the broker may call that endpoint at all
    expect((await post('/api/v1/internal/device-cert-rotate', { deviceId: 'dev-b', fingerprint: b.fingerprint, csr: (await makeDeviceCsr('dev-b')).csrPem })).statusCode).toBe(401);
  });

  it('a revoked certificate cannot rotate; a session that logged in with a secret is told it cannot either', async () => {
    const b = (await list('dev-b')).find((c) => c.status === 'active')!;
    expect((await post('/api/v1/devices/dev-b/certificates/revoke', { fingerprint: b.fingerprint })).statusCode).toBe(200);
    const r = await post('/api/v1/internal/device-cert-rotate', { deviceId: 'dev-b', fingerprint: b.fingerprint, csr: (await makeDeviceCsr('dev-b')).csrPem }, { authorization: `Bearer ${BROKER_TOKEN}` });
    expect(r.statusCode).toBe(401);
    expect(await statusOf('dev-b', b.fingerprint)).toBe('revoked');
    expect((await list('dev-b')).length).toBe(1);

    const secret = ((await post('/api/v1/devices/dev-s/rotate-secret')).json() as { secret: string }).secret;
    const s = await device('dev-s', undefined, { username: 'dev-s', password: secret });
    if (s instanceof Error) throw s;
    const reply = await rotateOverMqtt(s, 'dev-s', (await makeDeviceCsr('dev-s')).csrPem);
    expect(reply).toMatchObject({ ok: false, error: 'not-certificate-login' });
    // garbage on the request topic: an answer, the session unharmed
    s.removeAllListeners('message');
    const bad = new Promise<CertRotationReply>((resolve) => s.on('message', (_t, p) => resolve(JSON.parse(p.toString()) as CertRotationReply)));
    await s.publishAsync(certRotationTopics('dev-s').request, Buffer.from('{not json'), { qos: 1 });
    expect(await bad).toMatchObject({ ok: false, error: 'invalid-request' });
    expect(s.connected).toBe(true);
    await s.endAsync();
    expect((await list('dev-s')).length).toBe(0);
  });

  it('yulan device cert rotate: new files, the old certificate works until the new one is used; rotate with none is refused', async () => {
    const run = async (args: string[]): Promise<{ code: number; out: string }> => {
      const stdout = new PassThrough();
      const chunks: string[] = [];
      stdout.on('data', (c: Buffer) => chunks.push(c.toString()));
      const code = await deviceCertCommand(args, { env: { YULAN_CLOUD_URL: cloudUrl, YULAN_ADMIN_TOKEN: ADMIN }, stdout: stdout as never, stderr: new PassThrough() as never });
      return { code, out: chunks.join('') };
    };
    const out = path.join(dir, 'cli');
    await expect(run(['rotate', 'dev-s', '--out', out])).rejects.toThrow(/no valid certificate to rotate/);
    expect((await run(['issue', 'dev-s', '--out', out, '--json'])).code).toBe(0);
    const read = (): { keyPem: string; certificate: string } => ({ keyPem: fs.readFileSync(path.join(out, 'dev-s-key.pem'), 'utf8'), certificate: fs.readFileSync(path.join(out, 'dev-s.pem'), 'utf8') });
    const old = read();
    const rotated = await run(['rotate', 'dev-s', '--out', out, '--grace-hours', '24', '--json']);
    expect(rotated.code).toBe(0);
    const body = JSON.parse(rotated.out) as { fingerprint: string; replaces: string[]; retireAt: string };
    expect(body.replaces).toHaveLength(1);
    expect(Date.parse(body.retireAt) - Date.now()).toBeGreaterThan(23 * 3_600_000);
    const stillOld = await device('dev-s', old);
    if (stillOld instanceof Error) throw stillOld;
    await stillOld.endAsync();
    const fresh = await device('dev-s', read());
    if (fresh instanceof Error) throw fresh;
    await fresh.endAsync();
    await waitFor(async () => (await statusOf('dev-s', body.replaces[0]!)) === 'retired', 'the old certificate retired');
    expect(String(await device('dev-s', old))).toMatch(/not authorized/i);
    const listing = await run(['list', 'dev-s']);
    expect(listing.out).toMatch(/^retired .*\nactive /m);
  });

  it('the grace ends a rotated certificate whose successor is never used', async () => {
    const id = 'dev-c';
    const retiring = (await list(id)).find((c) => c.status === 'retiring')!;
    const later = new Date(Date.now() + certs.rotationGraceMs + 60_000);
    expect(await certs.store.active(id, retiring.fingerprint)).toBeDefined();
    expect(await certs.store.active(id, retiring.fingerprint, later)).toBeUndefined();
    // the successor itself is unaffected by its predecessor's grace
    const successor = (await list(id)).find((c) => c.status === 'active')!;
    expect(await certs.store.active(id, successor.fingerprint, later)).toBeDefined();
  });

  it('when the grace ends, the sweep retires the old certificate and the broker cuts a session still holding it', async () => {
    const old = await issue('dev-g');
    const dev = await device('dev-g', old);
    if (dev instanceof Error) throw dev;
    let closed = false;
    dev.on('close', () => { closed = true; });
    const reply = await rotateOverMqtt(dev, 'dev-g', (await makeDeviceCsr('dev-g')).csrPem);
    if (!reply.ok) throw new Error('rotation refused');
    expect(await certs.sweep()).toEqual([]);
    const later = new Date(Date.parse(reply.retireAt) + 1000);
    // (dev-c's rotated certificate, whose grace ended too, goes with it)
    expect(await certs.sweep(later)).toContain(old.fingerprint);
    await waitFor(() => closed, 'the session on the retired certificate cut');
    expect(await statusOf('dev-g', old.fingerprint)).toBe('retired');
    expect(await statusOf('dev-g', reply.fingerprint)).toBe('active');
    // once is enough: a second sweep finds nothing
    expect(await certs.sweep(later)).toEqual([]);
  });

  it('a simulator issues once, reuses its stored certificate, and rotates one near its end', async () => {
    const simDir = path.join(dir, 'sim');
    const cloud = { url: cloudUrl, adminToken: ADMIN };
    const first = (await ensureClientCerts(['dev-r'], { cloud, dataDir: simDir, logger: silentLogger })).get('dev-r')!;
    const again = (await ensureClientCerts(['dev-r'], { cloud, dataDir: simDir, logger: silentLogger })).get('dev-r')!;
    expect(again.cert).toBe(first.cert);
    expect((await list('dev-r')).map((c) => c.status)).toEqual(['active']);
    // a stored certificate with a day left: rotated, not issued beside it
    const { keyPem, csrPem } = await makeDeviceCsr('dev-r');
    const short = (await post('/api/v1/devices/dev-r/certificates', { csr: csrPem, days: 1 })).json() as { certificate: string; fingerprint: string };
    fs.writeFileSync(path.join(simDir, 'certs', 'dev-r.pem'), short.certificate);
    fs.writeFileSync(path.join(simDir, 'certs', 'dev-r-key.pem'), keyPem);
    const renewed = (await ensureClientCerts(['dev-r'], { cloud, dataDir: simDir, logger: silentLogger })).get('dev-r')!;
    expect(renewed.cert).not.toBe(short.certificate);
    expect(await statusOf('dev-r', short.fingerprint)).toBe('retiring');
    const dev = await device('dev-r', { keyPem: renewed.key, certificate: renewed.cert });
    if (dev instanceof Error) throw dev;
    await dev.endAsync();
    await waitFor(async () => (await statusOf('dev-r', short.fingerprint)) === 'retired', 'the short certificate retired');
  });
});
