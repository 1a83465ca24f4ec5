import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlTopic } from '@yulan/protos';
import { buildApp } from '../src/app.js';
import { digestToken } from '../src/auth-tokens.js';
import { chunkIds, createHttpEdgeClient } from '../src/edge-client.js';
import { createMqttLink, type MqttLink } from '../src/mqtt-link.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import { deadUrl, silentLogger, startBroker, waitFor, type TestBroker } from './helpers.js';

const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';

describe('revoke while the broker is down', () => {
  let link: MqttLink;
  let app: FastifyInstance;
  let broker: TestBroker | undefined;
  let port = 0;

  beforeAll(async () => {
    port = Number(new URL(await deadUrl()).port);
    link = createMqttLink({ url: `mqtt://127.0.0.1:${port}`, username: 'cloud', password: 'pw', logger: silentLogger, onPresence: () => undefined });
    const devices = new SqliteDeviceRepository({ file: ':memory:' });
    await devices.create({ id: 'ev-1', site: 's', kind: 'ev-charger', secretHash: 'x' });
    app = await buildApp({
      logger: silentLogger,
      devices,
      edge: createHttpEdgeClient({ baseUrl: await deadUrl(), token: 't' }),
      control: link,
      adminTokenDigest: digestToken(ADMIN),
      brokerToken: 'b',
      dashboardDir: null,
    });
  });
  afterAll(async () => {
    await app.close();
    await link.close();
    await broker?.close();
  });

  it('disables at once, reports the revoke pending, and delivers it when the broker returns', async () => {
    const r = await app.inject({ method: 'POST', url: '/api/v1/devices/ev-1/disable', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(r.statusCode).toBe(200);
    expect(r.json().status).toBe('disabled');
    expect(r.headers['x-yulan-revoke']).toBe('pending');
    const health = await app.inject({ url: '/healthz' });
    expect(health.json()).toMatchObject({ status: 'degraded', db: true, mqtt: false });

    broker = await startBroker({ cloud: 'pw' }, port);
    const b = broker;
    await waitFor(() => b.published.find((m) => m.topic === ControlTopic.Revoke), 'queued revoke delivered', 15_000);
    expect(b.published.filter((m) => m.topic === ControlTopic.Revoke)).toEqual([{ topic: '$yulan/v1/control/revoke', payload: 'ev-1', qos: 1 }]);
  });
});

describe('chunkIds', () => {
  it('keeps every id once, in order, within the budget', () => {
    const ids = Array.from({ length: 300 }, (_, i) => `device-${'x'.repeat(i % 50)}-${i}`);
    const chunks = chunkIds(ids, 1000);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.every((c) => c.length <= 1000)).toBe(true);
    expect(chunks.join(',').split(',')).toEqual(ids);
    expect(chunkIds([], 1000)).toEqual([]);
    expect(chunkIds(['a', 'b'], 1000)).toEqual(['a,b']);
  });
});
