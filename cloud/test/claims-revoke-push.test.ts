import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REVOKE_CLAIM_TOPIC } from '@yulan/protos';
import { startBroker, type BrokerHandle } from '../../broker/src/index.js';
import { CLOUD_PASSWORD, tempDir, testConfig } from '../../broker/test/helpers.js';
import { silentLogger, waitFor } from './helpers.js';
import { adminAuth, ClaimCloud, claimLogin, removeDir, requestIdentity } from './claims-support.js';

/**
 * Revoking a claim cuts its open claim sessions at once (docs/security.md, "Provisioning by
 * claim"): the cloud pushes the claim id on $yulan/v1/control/revoke-claim over its real
 * MQTT link (the broker's cloud account) and the real broker closes that claim's sessions,
 * not another claim's.
 */
describe('claim revocation pushed to the broker', () => {
  const dir = tempDir('claims-revoke-push');
  let link: MqttClient;
  const cloud = new ClaimCloud(dir, {
    mqtt: { publish: async (topic, payload, opts) => { await link.publishAsync(topic, Buffer.from(payload), opts); } },
  });
  let broker: BrokerHandle;
  let mqttUrl: string;

  beforeAll(async () => {
    await cloud.start();
    broker = await startBroker(await testConfig(dir, { YULAN_CLOUD_URL: cloud.url }), silentLogger);
    mqttUrl = `mqtt://127.0.0.1:${broker.mqttPort}`;
    link = await connectAsync(mqttUrl, { protocolVersion: 4, reconnectPeriod: 0, clientId: 'cloud:claims', username: 'cloud', password: CLOUD_PASSWORD });
  });
  afterAll(async () => {
    await link?.endAsync();
    await broker?.close();
    await cloud.stop().catch(() => undefined);
    removeDir(dir);
  });

  it('closes the revoked claim\'s open sessions at once and leaves another claim\'s session open', async () => {
    const a = await cloud.createClaim({ id: 'batch-a', kind: 'parcel-locker', site: 'site-7', count: 5, days: 30 });
    const b = await cloud.createClaim({ id: 'batch-b', kind: 'parcel-locker', site: 'site-7', count: 5, days: 30 });
    const a1 = await claimLogin(mqttUrl, 'batch-a', 'SN-A1', a.secret);
    const a2 = await claimLogin(mqttUrl, 'batch-a', 'SN-A2', a.secret);
    const b1 = await claimLogin(mqttUrl, 'batch-b', 'SN-B1', b.secret);
    const closed = new Set<string>();
    for (const [name, c] of [['a1', a1], ['a2', a2], ['b1', b1]] as const) c.on('close', () => closed.add(name));
    const revocations = broker.metrics().revocations;

    const r = await cloud.app.inject({ method: 'POST', url: '/api/v1/claims/batch-a/revoke', headers: adminAuth });
    expect(r.statusCode).toBe(200);
    await waitFor(() => closed.has('a1') && closed.has('a2'), 'both sessions of the revoked claim closed');
    expect(broker.metrics().revocations).toBe(revocations + 1);
    // the other claim's session goes on and can still exchange
    expect(closed.has('b1')).toBe(false);
    const answer = await requestIdentity(b1, 'batch-b', 'SN-B1');
    expect(answer.ok).toBe(true);
    await b1.endAsync();
    // and the revoked claim cannot log in again
    await expect(claimLogin(mqttUrl, 'batch-a', 'SN-A3', a.secret)).rejects.toThrow(/not authorized/i);
  });

  it('a malformed revocation is counted and closes nothing', async () => {
    const c = await cloud.createClaim({ id: 'batch-c', kind: 'parcel-locker', site: 'site-7', count: 1, days: 30 });
    const s = await claimLogin(mqttUrl, 'batch-c', 'SN-C1', c.secret);
    const errors = broker.metrics().protocolErrors;
    await link.publishAsync(REVOKE_CLAIM_TOPIC, Buffer.from('NOT a claim id!'), { qos: 1 });
    await waitFor(() => broker.metrics().protocolErrors === errors + 1, 'the bad revocation counted');
    expect(s.connected).toBe(true);
    await s.endAsync();
  });
});
