import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionResponseTopic, type ProvisionResponse } from '@yulan/protos';
import { startBroker, type BrokerHandle } from '../../broker/src/index.js';
import { EDGE_PASSWORD, tempDir, testConfig } from '../../broker/test/helpers.js';
import { waitFor } from './helpers.js';
import { ClaimCloud, claimLogin, exchangeOverMqtt, removeDir, requestIdentity } from './claims-support.js';

type Refusal = { ok: false; reason: string; message: string };
type Refusals = { items: { claimId: string; serial: string | null; action: string; detail: string | null }[]; counts: Record<string, number> };

/**
 * Provisioning by claim with real parts: the cloud (Fastify, SQLite files), the real
 * broker on a port asking that cloud over HTTP, and real MQTT clients as the devices.
 */
describe('provisioning by claim end to end (real broker, real cloud, real MQTT clients)', () => {
  const dir = tempDir('claims-e2e');
  const cloud = new ClaimCloud(dir);
  let broker: BrokerHandle;
  let mqttUrl: string;
  let edge: MqttClient;
  const telemetry: string[] = [];

  beforeAll(async () => {
    await cloud.start();
    broker = await startBroker(await testConfig(dir, { YULAN_CLOUD_URL: cloud.url }), (await import('./helpers.js')).silentLogger);
    mqttUrl = `mqtt://127.0.0.1:${broker.mqttPort}`;
    edge = await connectAsync(mqttUrl, { protocolVersion: 4, reconnectPeriod: 0, clientId: 'edge:claims', username: 'edge', password: EDGE_PASSWORD });
    edge.on('message', (topic) => telemetry.push(topic));
    await edge.subscribeAsync('yulan/v1/#', { qos: 1 });
  });
  afterAll(async () => {
    await edge?.endAsync();
    await broker?.close();
    await cloud.stop().catch(() => undefined);
    removeDir(dir);
  });

  const refusals = async (): Promise<Refusals> => (await cloud.get('/api/v1/claims/refusals')) as Refusals;

  it('a device exchanges the claim for its own identity (the claim\'s kind and site), then reconnects with it and its telemetry flows', async () => {
    const { secret, claim } = await cloud.createClaim({ id: 'lockers-a', kind: 'parcel-locker', site: 'site-7', count: 3, days: 30 });
    expect(claim.status).toBe('active');
    const r = await exchangeOverMqtt(mqttUrl, 'lockers-a', 'SN-1001', secret);
    expect(r).toEqual({ ok: true, device: { id: 'SN-1001', site: 'site-7', kind: 'parcel-locker' }, secret: expect.any(String) });
    if (!r.ok || r.secret === undefined) throw new Error('no secret');
    expect(broker.metrics().claims.exchanged).toBe(1);
    const dev = await connectAsync(mqttUrl, { protocolVersion: 4, reconnectPeriod: 0, clientId: 'SN-1001', username: 'SN-1001', password: r.secret });
    await dev.publishAsync('yulan/v1/site-7/parcel-locker/SN-1001/telemetry', Buffer.from('x'), { qos: 1 });
    await waitFor(() => telemetry.includes('yulan/v1/site-7/parcel-locker/SN-1001/telemetry'), 'the provisioned device\'s telemetry at the edge');
    await dev.endAsync();
    const shown = (await cloud.get('/api/v1/claims/lockers-a')) as { claim: { usedCount: number }; uses: { serial: string; via: string }[]; events: { action: string }[] };
    expect(shown.claim.usedCount).toBe(1);
    expect(shown.uses).toEqual([expect.objectContaining({ serial: 'SN-1001', deviceId: 'SN-1001', via: 'mqtt' })]);
    expect(shown.events.map((e) => e.action)).toEqual(['claim.exchange', 'claim.create']);
    // the claim secret is never stored or shown again
    expect(JSON.stringify(shown)).not.toContain(secret);
  });

  it('a claim session can only use its own request/response pair: no telemetry, no other subscription', async () => {
    const { secret } = await cloud.createClaim({ id: 'lockers-b', kind: 'parcel-locker', site: 'site-7', count: 1, days: 30 });
    const c = await claimLogin(mqttUrl, 'lockers-b', 'SN-2001', secret);
    const denied = broker.metrics().aclDenied;
    const before = { publish: denied.publish, subscribe: denied.subscribe };
    await c.publishAsync('yulan/v1/site-7/parcel-locker/SN-2001/telemetry', Buffer.from('x'), { qos: 1 });
    await waitFor(() => broker.metrics().aclDenied.publish === before.publish + 1, 'the telemetry publish denied');
    for (const filter of ['yulan/v1/#', provisionResponseTopic('lockers-b', 'SN-9999'), '$yulan/v1/provision/#']) {
      // SUBACK 0x80: mqtt.js rejects the subscription
      await expect(c.subscribeAsync(filter, { qos: 1 })).rejects.toThrow(/subscribe error/i);
    }
    expect(broker.metrics().aclDenied.subscribe).toBe(before.subscribe + 3);
    // its own pair works on the same connection afterwards
    const r = await requestIdentity(c, 'lockers-b', 'SN-2001');
    expect(r.ok).toBe(true);
    await c.endAsync();
    // a client id that does not name the claim, or a wrong secret, is refused
    await expect(connectAsync(mqttUrl, { protocolVersion: 4, reconnectPeriod: 0, clientId: 'SN-2002', username: 'claim:lockers-b', password: secret })).rejects.toThrow(/identifier rejected/i);
    await expect(claimLogin(mqttUrl, 'lockers-b', 'SN-2002', 'wrong-secret')).rejects.toThrow(/bad username or password/i);
  });

  it('a second exchange for the same serial is refused with its reason and listed for operators; a claim is not exchanged beyond its count', async () => {
    const { secret } = await cloud.createClaim({ id: 'chargers-c', kind: 'ev-charger', site: 'site-3', count: 2, days: 30 });
    expect((await exchangeOverMqtt(mqttUrl, 'chargers-c', 'CH-1', secret)).ok).toBe(true);
    const again = await exchangeOverMqtt(mqttUrl, 'chargers-c', 'CH-1', secret);
    expect(again).toEqual({ ok: false, reason: 'serial-used', message: expect.stringMatching(/used the claim already/) });
    expect((await exchangeOverMqtt(mqttUrl, 'chargers-c', 'CH-2', secret)).ok).toBe(true);
    const over = (await exchangeOverMqtt(mqttUrl, 'chargers-c', 'CH-3', secret)) as Refusal;
    expect(over).toMatchObject({ ok: false, reason: 'exhausted' });
    const list = await refusals();
    expect(list.items.filter((e) => e.claimId === 'chargers-c').map((e) => [e.serial, e.detail?.split(' ')[0]])).toEqual([['CH-3', 'exhausted'], ['CH-1', 'serial-used']]);
    expect(list.counts['serial-used']).toBeGreaterThanOrEqual(1);
    const metrics = (await cloud.get('/api/v1/metrics')) as { claims_refused: Record<string, number> };
    expect(metrics.claims_refused.exhausted).toBeGreaterThanOrEqual(1);
    expect(broker.metrics().claims.exchangeRefused).toBeGreaterThanOrEqual(2);
    // the device CH-3 was never registered
    expect((await cloud.app.inject({ url: '/api/v1/devices/CH-3', headers: { authorization: 'Bearer admin-token-0123456789-abcdefghijklmnop' } })).statusCode).toBe(404);
  });

  it('a revoked claim is refused at login and at the exchange of a session opened before; both are listed', async () => {
    const { secret } = await cloud.createClaim({ id: 'sensors-d', kind: 'env-monitor', site: 'site-1', count: 5, days: 30 });
    const early = await claimLogin(mqttUrl, 'sensors-d', 'ENV-1', secret);
    const revoked = await cloud.app.inject({ method: 'POST', url: '/api/v1/claims/sensors-d/revoke', headers: { authorization: 'Bearer admin-token-0123456789-abcdefghijklmnop' } });
    expect(revoked.json()).toMatchObject({ status: 'revoked', revokedAt: expect.any(String) });
    expect(await requestIdentity(early, 'sensors-d', 'ENV-1')).toMatchObject({ ok: false, reason: 'revoked' });
    await early.endAsync();
    await expect(claimLogin(mqttUrl, 'sensors-d', 'ENV-2', secret)).rejects.toThrow(/not authorized/i);
    const over = await cloud.app.inject({ method: 'POST', url: '/api/v1/provision/claim', payload: { claimId: 'sensors-d', secret, serial: 'ENV-3' } });
    expect(over.statusCode).toBe(403);
    expect(over.json()).toMatchObject({ ok: false, reason: 'revoked' });
    const mine = (await refusals()).items.filter((e) => e.claimId === 'sensors-d');
    expect(mine.map((e) => e.serial)).toEqual(['ENV-3', 'ENV-2', 'ENV-1']);
  });

  it('an expired claim is refused at login and over HTTP', async () => {
    const { secret } = await cloud.createClaim({ id: 'sensors-e', kind: 'env-monitor', site: 'site-1', count: 5, days: 1 });
    cloud.offsetMs = 2 * 86_400_000;
    try {
      await expect(claimLogin(mqttUrl, 'sensors-e', 'ENV-9', secret)).rejects.toThrow(/not authorized/i);
      const r = await cloud.app.inject({ method: 'POST', url: '/api/v1/provision/claim', payload: { claimId: 'sensors-e', secret, serial: 'ENV-9' } });
      expect(r.statusCode).toBe(403);
      expect(r.json()).toMatchObject({ ok: false, reason: 'expired' });
      expect(((await cloud.get('/api/v1/claims/sensors-e')) as { claim: { status: string } }).claim.status).toBe('expired');
    } finally {
      cloud.offsetMs = 0;
    }
    expect((await refusals()).items.filter((e) => e.claimId === 'sensors-e').map((e) => e.detail?.split(' ')[0])).toEqual(['expired', 'expired']);
  });

  it('two devices racing for the last slot: exactly one gets an identity (MQTT and HTTP at once too)', async () => {
    const { secret } = await cloud.createClaim({ id: 'race-f', kind: 'env-monitor', site: 'site-1', count: 1, days: 30 });
    const results = await Promise.all([
      exchangeOverMqtt(mqttUrl, 'race-f', 'R-1', secret),
      exchangeOverMqtt(mqttUrl, 'race-f', 'R-2', secret),
      cloud.app.inject({ method: 'POST', url: '/api/v1/provision/claim', payload: { claimId: 'race-f', secret, serial: 'R-3' } }).then((r) => r.json() as ProvisionResponse),
    ]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok).map((r) => (r as Refusal).reason)).toEqual(['exhausted', 'exhausted']);
    expect(((await cloud.get('/api/v1/claims/race-f')) as { uses: unknown[] }).uses).toHaveLength(1);
  });

  it('a cloud restart keeps what was used: the same serial and a full count stay refused', async () => {
    const { secret } = await cloud.createClaim({ id: 'restart-g', kind: 'fall-sensor', site: 'site-2', count: 1, days: 30 });
    expect((await exchangeOverMqtt(mqttUrl, 'restart-g', 'F-1', secret)).ok).toBe(true);
    await cloud.stop();
    await cloud.start();
    expect(await exchangeOverMqtt(mqttUrl, 'restart-g', 'F-1', secret)).toMatchObject({ ok: false, reason: 'serial-used' });
    expect(await exchangeOverMqtt(mqttUrl, 'restart-g', 'F-2', secret)).toMatchObject({ ok: false, reason: 'exhausted' });
    const shown = (await cloud.get('/api/v1/claims/restart-g')) as { claim: { usedCount: number; status: string } };
    expect(shown.claim).toMatchObject({ usedCount: 1, status: 'used-up' });
  });

  it('a device whose serial is already a registered device is refused and the slot stays free', async () => {
    const { secret } = await cloud.createClaim({ id: 'dup-h', kind: 'env-monitor', site: 'site-1', count: 1, days: 30 });
    expect((await cloud.app.inject({ method: 'POST', url: '/api/v1/devices', headers: { authorization: 'Bearer admin-token-0123456789-abcdefghijklmnop' }, payload: { id: 'D-1', site: 'site-1', kind: 'env-monitor' } })).statusCode).toBe(201);
    expect(await exchangeOverMqtt(mqttUrl, 'dup-h', 'D-1', secret)).toMatchObject({ ok: false, reason: 'device-exists' });
    expect((await exchangeOverMqtt(mqttUrl, 'dup-h', 'D-2', secret)).ok).toBe(true);
  });
});
