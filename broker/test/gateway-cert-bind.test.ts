import fs from 'node:fs';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlTopic, DeviceKind, Presence, deviceTopic, gatewayTopics, hashSecret, type GatewayNotice } from '@yulan/protos';
import { parseAccounts, startBroker, type BrokerHandle } from '../src/index.js';
import { createCa, issueCert, type PemPair } from '../../cli/src/dev-ca.js';
import { CLOUD_PASSWORD, EDGE_PASSWORD, FakeCertAuth, FakeDeviceAuth, logger, mqttClient, subackCodes, tempDir, testConfig, waitFor } from './helpers.js';

const GW_PASSWORD = 'gateway-password-for-tests-0123456789';
const site = 'plaza';
const kind = DeviceKind.EV_CHARGER;
const DAY = 86_400_000;
const topic = (id: string, ch: 'telemetry' | 'cmd' | 'presence') => deviceTopic({ site, kind, deviceId: id }, ch);
const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();

interface Gw { client: MqttClient; notices: GatewayNotice[]; got: { topic: string; payload: string }[]; user: string }

/**
 * Binding a device to a gateway session by its client certificate (docs/ocpp.md §3.1):
 * only for accounts with `certBind`, checked as a device's own certificate login — device
 * CA, validity, CN = id, the pushed revocations, the registry (device-cert-auth).
 */
describe('gateway role: bind by client certificate', () => {
  const dir = tempDir('gateway-cert-bind');
  const auth = new FakeDeviceAuth();
  const certAuth = new FakeCertAuth(site, kind);
  let serverCa: PemPair;
  let deviceCa: PemPair;
  let broker: BrokerHandle;
  let url: string;
  let cloud: MqttClient;
  let edge: MqttClient;
  const seen: { topic: string; payload: string }[] = [];
  const presence: Presence[] = [];
  const certs = new Map<string, PemPair>();

  async function gateway(user: string, clientSuffix = '1'): Promise<Gw> {
    const client = await mqttClient(url, { clientId: `${user}:${clientSuffix}`, username: user, password: GW_PASSWORD });
    const gw: Gw = { client, notices: [], got: [], user };
    const t = gatewayTopics(user);
    client.on('message', (tp, payload) => {
      if (tp === t.notice) gw.notices.push(JSON.parse(payload.toString()) as GatewayNotice);
      else gw.got.push({ topic: tp, payload: payload.toString() });
    });
    await client.subscribeAsync(t.notice, { qos: 1 });
    return gw;
  }
  const bind = async (gw: Gw, body: Record<string, string>): Promise<GatewayNotice> => {
    const before = gw.notices.length;
    await gw.client.publishAsync(gatewayTopics(gw.user).bind, JSON.stringify(body), { qos: 1 });
    await waitFor(() => gw.notices.slice(before).some((n) => n.id === body.id), `notice for ${body.id}`);
    return gw.notices.slice(before).find((n) => n.id === body.id)!;
  };
  const bindCert = (gw: Gw, id: string, pem: string): Promise<GatewayNotice> => bind(gw, { id, cert: pem });
  /** Publishes `marker` after `payload` on the same session: once the marker arrived, the
   * broker has decided on the earlier publish too (one session's publishes keep their order). */
  const publishThenMarker = async (gw: Gw, t: string, payload: string, markerTopic: string, marker: string): Promise<void> => {
    await gw.client.publishAsync(t, payload, { qos: 1 });
    await gw.client.publishAsync(markerTopic, marker, { qos: 1 });
    await waitFor(() => seen.some((m) => m.payload === marker), `marker ${marker}`);
  };
  const refusedBy = (reason: string): number => broker.metrics().gatewayBinds?.certBindRefused[reason] ?? 0;

  beforeAll(async () => {
    serverCa = await createCa('cert-bind server CA');
    deviceCa = await createCa('cert-bind device CA');
    const leaf = await issueCert(serverCa, { commonName: 'localhost', usage: 'server', dnsNames: ['localhost'], ips: ['127.0.0.1'] });
    fs.mkdirSync(dir, { recursive: true });
    const files = { cert: path.join(dir, 'server.pem'), key: path.join(dir, 'server-key.pem'), ca: path.join(dir, 'device-ca.pem') };
    fs.writeFileSync(files.cert, leaf.certPem);
    fs.writeFileSync(files.key, leaf.keyPem, { mode: 0o600 });
    fs.writeFileSync(files.ca, deviceCa.certPem);
    for (const id of ['cp-c1', 'cp-c2', 'cp-off', 'cp-rev', 'cp-key', 'env-1', 'cp-race']) {
      auth.add(id, { site, kind });
      const pair = await issueCert(deviceCa, { commonName: id, usage: 'client' });
      certs.set(id, pair);
      certAuth.registered.set(id, { fingerprint: fingerprint(pair.certPem), ...(id === 'env-1' ? { kind: DeviceKind.ENV_MONITOR } : {}) });
    }
    fs.writeFileSync(path.join(dir, 'accounts.json'), JSON.stringify([
      { username: 'edge', role: 'edge', hash: await hashSecret(EDGE_PASSWORD) },
      { username: 'cloud', role: 'cloud', hash: await hashSecret(CLOUD_PASSWORD) },
      { username: 'gw-cert', role: 'gateway', certBind: true, hash: await hashSecret(GW_PASSWORD) },
      { username: 'gw-key', role: 'gateway', hash: await hashSecret(GW_PASSWORD) },
      { username: 'gw-ev', role: 'gateway', certBind: ['ev-charger'], hash: await hashSecret(GW_PASSWORD) },
    ]));
    broker = await startBroker(await testConfig(dir, {
      YULAN_TLS_CERT_FILE: files.cert, YULAN_TLS_KEY_FILE: files.key, YULAN_DEVICE_CA_FILE: files.ca, YULAN_MQTTS_PORT: '0', YULAN_WSS_PORT: '0',
    }), logger, { deviceAuth: auth, deviceCertAuth: certAuth });
    url = `mqtt://127.0.0.1:${broker.mqttPort}`;
    cloud = await mqttClient(url, { clientId: 'cloud:cert-bind', username: 'cloud', password: CLOUD_PASSWORD });
    edge = await mqttClient(url, { clientId: 'edge:cert-bind', username: 'edge', password: EDGE_PASSWORD });
    edge.on('message', (t, payload) => {
      if (t.endsWith('/presence')) presence.push(Presence.decode(payload));
      else seen.push({ topic: t, payload: payload.toString() });
    });
    await edge.subscribeAsync('yulan/v1/#', { qos: 1 });
  });
  afterAll(async () => {
    await cloud?.endAsync(true);
    await edge?.endAsync(true);
    await broker?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('binds a device by its registered certificate: online, it publishes, it gets its commands', async () => {
    const gw = await gateway('gw-cert');
    expect(await bindCert(gw, 'cp-c1', certs.get('cp-c1')!.certPem)).toMatchObject({ type: 'bound', id: 'cp-c1', site });
    await waitFor(() => presence.some((p) => p.deviceId === 'cp-c1' && p.online), 'online presence');
    await gw.client.publishAsync(topic('cp-c1', 'telemetry'), 'from-c1', { qos: 1 });
    await waitFor(() => seen.some((m) => m.topic === topic('cp-c1', 'telemetry') && m.payload === 'from-c1'), 'bound publish delivered');
    expect(await subackCodes(gw.client, [topic('cp-c1', 'cmd')])).toEqual([1]);
    await cloud.publishAsync(topic('cp-c1', 'cmd'), 'start', { qos: 1 });
    await waitFor(() => gw.got.some((m) => m.topic === topic('cp-c1', 'cmd') && m.payload === 'start'), 'command delivered');
    expect(certAuth.asked.some((a) => a.deviceId === 'cp-c1' && a.fingerprint === fingerprint(certs.get('cp-c1')!.certPem))).toBe(true);
    expect(broker.metrics().gatewayBinds?.certBinds).toBeGreaterThanOrEqual(1);
    await gw.client.endAsync();
  });

  it('a gateway without certBind cannot bind by certificate (a certificate is not a secret): refused, nothing published', async () => {
    const gw = await gateway('gw-key');
    const before = refusedBy('cert-bind-not-allowed');
    // bind spoofing: it knows cp-c2's certificate (public), but not its key
    expect(await bindCert(gw, 'cp-c2', certs.get('cp-c2')!.certPem)).toEqual({ type: 'refused', id: 'cp-c2', reason: 'cert-bind-not-allowed' });
    expect(refusedBy('cert-bind-not-allowed')).toBe(before + 1);
    expect(certAuth.asked.some((a) => a.deviceId === 'cp-c2')).toBe(false);
    // so it may not speak for it
    expect(await bind(gw, { id: 'cp-key', key: 'secret-cp-key' })).toMatchObject({ type: 'bound' });
    await publishThenMarker(gw, topic('cp-c2', 'telemetry'), 'forged-c2', topic('cp-key', 'telemetry'), 'marker-nocertbind');
    expect(seen.map((m) => m.payload)).not.toContain('forged-c2');
    expect(await subackCodes(gw.client, [topic('cp-c2', 'cmd')])).toEqual([0x80]);
    await gw.client.endAsync();
  });

  it('an account allowed to bind by certificate for some kinds only is refused for the others', async () => {
    const gw = await gateway('gw-ev');
    const before = refusedBy('cert-bind-not-allowed');
    // an env monitor logging in by certificate: not the OCPP gateway's to speak for
    expect(await bindCert(gw, 'env-1', certs.get('env-1')!.certPem)).toEqual({ type: 'refused', id: 'env-1', reason: 'cert-bind-not-allowed' });
    expect(refusedBy('cert-bind-not-allowed')).toBe(before + 1);
    expect(await subackCodes(gw.client, [deviceTopic({ site, kind: DeviceKind.ENV_MONITOR, deviceId: 'env-1' }, 'cmd')])).toEqual([0x80]);
    expect(await bindCert(gw, 'cp-c2', certs.get('cp-c2')!.certPem)).toMatchObject({ type: 'bound', id: 'cp-c2' });
    await gw.client.endAsync();
  });

  it('refuses another device\'s certificate, another CA, a server certificate, expired, unregistered, disabled — each with its reason', async () => {
    const gw = await gateway('gw-cert', 'refusals');
    const expectRefused = async (id: string, pem: string, reason: string): Promise<void> => {
      const before = refusedBy(reason);
      expect(await bindCert(gw, id, pem)).toEqual({ type: 'refused', id, reason });
      expect(refusedBy(reason)).toBe(before + 1);
    };
    await expectRefused('cp-c2', certs.get('cp-c1')!.certPem, 'cert-wrong-subject');
    const other = await createCa('not Yulan');
    await expectRefused('cp-c2', (await issueCert(other, { commonName: 'cp-c2', usage: 'client' })).certPem, 'cert-untrusted');
    // the device CA signed it, but for a server
    await expectRefused('cp-c2', (await issueCert(deviceCa, { commonName: 'cp-c2', usage: 'server' })).certPem, 'cert-untrusted');
    await expectRefused('cp-c2', deviceCa.certPem, 'cert-untrusted');
    const past = new Date(Date.now() - 10 * DAY);
    await expectRefused('cp-c2', (await issueCert(deviceCa, { commonName: 'cp-c2', usage: 'client', notBefore: past, notAfter: new Date(past.getTime() + DAY) })).certPem, 'cert-expired');
    const future = new Date(Date.now() + 10 * DAY);
    await expectRefused('cp-c2', (await issueCert(deviceCa, { commonName: 'cp-c2', usage: 'client', notBefore: future })).certPem, 'cert-not-yet-valid');
    // from the device CA with the right CN, but not the device's registered certificate
    await expectRefused('cp-c2', (await issueCert(deviceCa, { commonName: 'cp-c2', usage: 'client' })).certPem, 'cert-revoked-or-unregistered');
    certAuth.registered.get('cp-off')!.disabled = true;
    await expectRefused('cp-off', certs.get('cp-off')!.certPem, 'disabled');
    // malformed, and a key and a certificate at once: invalid
    expect(await bindCert(gw, 'cp-c2', 'not a certificate')).toEqual({ type: 'refused', id: 'cp-c2', reason: 'invalid' });
    expect(await bind(gw, { id: 'cp-key', key: 'secret-cp-key', cert: certs.get('cp-key')!.certPem })).toEqual({ type: 'refused', id: 'cp-key', reason: 'invalid' });
    // none of them may be spoken for; the session is still up and binds its own
    expect(await bindCert(gw, 'cp-c2', certs.get('cp-c2')!.certPem)).toMatchObject({ type: 'bound' });
    await publishThenMarker(gw, topic('cp-off', 'telemetry'), 'forged-off', topic('cp-c2', 'telemetry'), 'marker-refusals');
    expect(seen.map((m) => m.payload)).not.toContain('forged-off');
    await gw.client.endAsync();
  });

  it('a certificate revoked while bound unbinds the device at once, and it cannot bind by it again', async () => {
    const gw = await gateway('gw-cert', 'revoke');
    expect(await bindCert(gw, 'cp-rev', certs.get('cp-rev')!.certPem)).toMatchObject({ type: 'bound' });
    // bound by its key: a certificate revocation does not touch it (another credential)
    expect(await bind(gw, { id: 'cp-key', key: 'secret-cp-key' })).toMatchObject({ type: 'bound' });
    const fp = fingerprint(certs.get('cp-rev')!.certPem);
    await cloud.publishAsync(ControlTopic.RevokeCert, fp, { qos: 1 });
    await waitFor(() => gw.notices.some((n) => n.type === 'unbound' && n.id === 'cp-rev' && n.reason === 'revoked'), 'revoked notice');
    await waitFor(() => presence.some((p) => p.deviceId === 'cp-rev' && !p.online && p.reason === 'revoked'), 'revoked presence');
    await publishThenMarker(gw, topic('cp-rev', 'telemetry'), 'after-revoke', topic('cp-key', 'telemetry'), 'marker-revoke');
    expect(seen.map((m) => m.payload)).not.toContain('after-revoke');
    // the registry would still say yes (the fake is not told): the pushed revocation wins
    expect(await bindCert(gw, 'cp-rev', certs.get('cp-rev')!.certPem)).toEqual({ type: 'refused', id: 'cp-rev', reason: 'cert-revoked' });
    expect(gw.notices.some((n) => n.type === 'unbound' && n.id === 'cp-key')).toBe(false);
    await gw.client.endAsync();
  });

  it('a revocation pushed while the cloud is still answering a bind wins: refused, never bound', async () => {
    const gw = await gateway('gw-cert', 'race');
    let release!: () => void;
    certAuth.gate = new Promise((r) => { release = r; });
    const askedBefore = certAuth.asked.length;
    const revocationsBefore = broker.metrics().revocations;
    await gw.client.publishAsync(gatewayTopics('gw-cert').bind, JSON.stringify({ id: 'cp-race', cert: certs.get('cp-race')!.certPem }), { qos: 1 });
    await waitFor(() => certAuth.asked.slice(askedBefore).some((a) => a.deviceId === 'cp-race'), 'the cloud asked');
    await cloud.publishAsync(ControlTopic.RevokeCert, fingerprint(certs.get('cp-race')!.certPem), { qos: 1 });
    await waitFor(() => broker.metrics().revocations > revocationsBefore, 'revocation received');
    certAuth.gate = undefined;
    release(); // the (stale) registry now says yes
    await waitFor(() => gw.notices.some((n) => n.id === 'cp-race'), 'notice');
    expect(gw.notices.find((n) => n.id === 'cp-race')).toEqual({ type: 'refused', id: 'cp-race', reason: 'cert-revoked' });
    expect(presence.some((p) => p.deviceId === 'cp-race' && p.online)).toBe(false);
    await gw.client.endAsync();
  });

  it('disabling a device bound by certificate unbinds it, as for one bound by key', async () => {
    const gw = await gateway('gw-cert', 'disable');
    expect(await bindCert(gw, 'cp-c1', certs.get('cp-c1')!.certPem)).toMatchObject({ type: 'bound' });
    certAuth.registered.get('cp-c1')!.disabled = true;
    await cloud.publishAsync(ControlTopic.Revoke, 'cp-c1', { qos: 1 });
    await waitFor(() => gw.notices.some((n) => n.type === 'unbound' && n.id === 'cp-c1' && n.reason === 'revoked'), 'revoked notice');
    expect(await bindCert(gw, 'cp-c1', certs.get('cp-c1')!.certPem)).toEqual({ type: 'refused', id: 'cp-c1', reason: 'disabled' });
    await gw.client.endAsync();
  });
});

describe('accounts file: certBind', () => {
  it('is opt-in, for gateway accounts only, a boolean or a list of kinds', () => {
    const accounts = parseAccounts([
      { username: 'gw-a', role: 'gateway', hash: 'scrypt$1', certBind: true },
      { username: 'gw-b', role: 'gateway', hash: 'scrypt$2' },
      { username: 'gw-c', role: 'gateway', hash: 'scrypt$3', certBind: false },
      { username: 'gw-d', role: 'gateway', hash: 'scrypt$4', certBind: ['ev-charger'] },
    ]);
    expect(accounts.get('gw-d')?.certBind).toEqual(['ev-charger']);
    expect(() => parseAccounts([{ username: 'gw-a', role: 'gateway', hash: 'scrypt$1', certBind: ['toaster'] }])).toThrow(expect.objectContaining({ code: 'E_BROKER_ACCOUNTS' }));
    expect(() => parseAccounts([{ username: 'gw-a', role: 'gateway', hash: 'scrypt$1', certBind: [] }])).toThrow(expect.objectContaining({ code: 'E_BROKER_ACCOUNTS' }));
    expect(accounts.get('gw-a')?.certBind).toBe(true);
    expect(accounts.get('gw-b')?.certBind).toBeUndefined();
    expect(accounts.get('gw-c')?.certBind).toBeUndefined();
    expect(() => parseAccounts([{ username: 'edge', role: 'edge', hash: 'scrypt$1', certBind: true }])).toThrow(/certBind is for role gateway only/);
    expect(() => parseAccounts([{ username: 'gw-a', role: 'gateway', hash: 'scrypt$1', certBind: 'yes' }])).toThrow(expect.objectContaining({ code: 'E_BROKER_ACCOUNTS' }));
  });
});

describe('gateway role: bind by certificate on a broker without a device CA', () => {
  const dir = tempDir('gateway-cert-bind-noca');
  let broker: BrokerHandle;
  afterAll(async () => {
    await broker?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('is refused with cert-unsupported: nothing to check the certificate against', async () => {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'accounts.json'), JSON.stringify([
      { username: 'edge', role: 'edge', hash: await hashSecret(EDGE_PASSWORD) },
      { username: 'cloud', role: 'cloud', hash: await hashSecret(CLOUD_PASSWORD) },
      { username: 'gw-cert', role: 'gateway', certBind: true, hash: await hashSecret(GW_PASSWORD) },
    ]));
    const auth = new FakeDeviceAuth();
    auth.add('cp-1', { site, kind });
    broker = await startBroker(await testConfig(dir), logger, { deviceAuth: auth });
    const client = await mqttClient(`mqtt://127.0.0.1:${broker.mqttPort}`, { clientId: 'gw-cert:noca', username: 'gw-cert', password: GW_PASSWORD });
    const notices: GatewayNotice[] = [];
    client.on('message', (_t, payload) => notices.push(JSON.parse(payload.toString()) as GatewayNotice));
    await client.subscribeAsync(gatewayTopics('gw-cert').notice, { qos: 1 });
    const ca = await createCa('no-ca test');
    const pem = (await issueCert(ca, { commonName: 'cp-1', usage: 'client' })).certPem;
    await client.publishAsync(gatewayTopics('gw-cert').bind, JSON.stringify({ id: 'cp-1', cert: pem }), { qos: 1 });
    await waitFor(() => notices.length > 0, 'notice');
    expect(notices[0]).toEqual({ type: 'refused', id: 'cp-1', reason: 'cert-unsupported' });
    expect(broker.metrics().gatewayBinds?.certBindRefused['cert-unsupported']).toBe(1);
    // its key still binds it
    await client.publishAsync(gatewayTopics('gw-cert').bind, JSON.stringify({ id: 'cp-1', key: 'secret-cp-1' }), { qos: 1 });
    await waitFor(() => notices.length > 1, 'second notice');
    expect(notices[1]).toMatchObject({ type: 'bound', id: 'cp-1' });
    await client.endAsync();
  });
});
