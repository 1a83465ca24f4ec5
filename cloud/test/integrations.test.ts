import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlTopic, parseIntegrationNotice, type IntegrationNotice } from '@yulan/protos';
import { buildApp } from '../src/app.js';
import { digestToken } from '../src/auth-tokens.js';
import { createHttpEdgeClient } from '../src/edge-client.js';
import type { AuditEntry } from '../src/care/contracts.js';
import { openIntegrations, type IntegrationsModule } from '../src/integrations/index.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import { deadUrl, silentLogger } from './helpers.js';

const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
const BROKER = 'broker-token-for-tests';
const auth = { authorization: `Bearer ${ADMIN}` };
const brokerAuth = { authorization: `Bearer ${BROKER}` };

/** Records what would go to the broker; `up` false plays a broker that is away. */
class FakeLink {
  up = true;
  fail = false;
  readonly notices: IntegrationNotice[] = [];
  connected = (): boolean => this.up;
  publish = async (topic: string, payload: Uint8Array): Promise<void> => {
    if (this.fail) throw new Error('no PUBACK');
    expect(topic).toBe(ControlTopic.Integration);
    this.notices.push(parseIntegrationNotice(payload)!);
  };
}

describe('integration accounts in the cloud (API, broker check, notices, audit)', () => {
  const link = new FakeLink();
  const healthAudit: AuditEntry[] = [];
  let integrations: IntegrationsModule;
  let app: FastifyInstance;
  const post = (url: string, payload?: object) => app.inject({ method: 'POST', url, headers: auth, ...(payload ? { payload } : {}) });
  const brokerCheck = (name: string, secret: string) => app.inject({ method: 'POST', url: '/api/v1/internal/integration-auth', headers: brokerAuth, payload: { name, secret } });

  beforeAll(async () => {
    integrations = await openIntegrations({ target: { kind: 'sqlite', file: ':memory:' }, mqtt: link, logger: silentLogger, healthAudit: { record: async (e) => void healthAudit.push(e) } });
    app = await buildApp({
      logger: silentLogger, devices: new SqliteDeviceRepository({ file: ':memory:' }),
      edge: createHttpEdgeClient({ baseUrl: await deadUrl(), token: 't' }),
      control: { connected: () => true, publishRevoke: async () => undefined },
      adminTokenDigest: digestToken(ADMIN), brokerToken: BROKER, dashboardDir: null, integrations,
    });
  });
  afterAll(async () => {
    await app.close();
    await integrations.close();
  });

  it('creates an account with a once-shown secret that the broker check accepts', async () => {
    const r = await post('/api/v1/integrations', { name: 'grafana', rules: [{ filter: 'yulan/v1/xuhui/env-monitor/+/telemetry', read: true }], namespace: true });
    expect(r.statusCode).toBe(201);
    const { integration, secret } = r.json() as { integration: { mqttUsername: string; namespaceFilter: string }; secret: string };
    expect(integration).toMatchObject({ mqttUsername: 'int:grafana', namespaceFilter: 'ext/grafana/#' });
    expect((await app.inject({ url: '/api/v1/integrations/grafana', headers: auth })).body).not.toContain(secret);
    const ok = await brokerCheck('grafana', secret);
    expect(ok.json()).toEqual({ ok: true, account: { name: 'grafana', rules: [{ filter: 'yulan/v1/xuhui/env-monitor/+/telemetry', read: true, write: false }], namespace: true, healthGrant: false } });
    // Wrong secret and unknown name answer alike.
    expect((await brokerCheck('grafana', 'wrong')).json()).toEqual({ ok: false, reason: 'bad-credentials' });
    expect((await brokerCheck('nobody', 'wrong')).json()).toEqual({ ok: false, reason: 'bad-credentials' });
    // Only the broker may ask.
    expect((await app.inject({ method: 'POST', url: '/api/v1/internal/integration-auth', headers: auth, payload: { name: 'grafana', secret } })).statusCode).toBe(401);
  });

  it('tells the broker about rule changes, disable, enable and rotate; says "pending" when it cannot', async () => {
    const patch = await app.inject({ method: 'PATCH', url: '/api/v1/integrations/grafana', headers: auth, payload: { rules: [{ filter: 'yulan/v1/+/env-monitor/+/telemetry', read: true }] } });
    expect(patch.headers['x-yulan-notice']).toBe('sent');
    expect(link.notices.at(-1)).toMatchObject({ name: 'grafana', action: 'update', account: { rules: [{ filter: 'yulan/v1/+/env-monitor/+/telemetry' }] } });
    expect((await post('/api/v1/integrations/grafana/disable')).headers['x-yulan-notice']).toBe('sent');
    expect(link.notices.at(-1)).toEqual({ name: 'grafana', action: 'cut' });
    const secret = (await post('/api/v1/integrations/grafana/rotate')).json().secret as string;
    expect((await brokerCheck('grafana', secret)).json()).toEqual({ ok: false, reason: 'disabled' });
    await post('/api/v1/integrations/grafana/enable');
    expect((await brokerCheck('grafana', secret)).json()).toMatchObject({ ok: true });
    link.up = false;
    expect((await post('/api/v1/integrations/grafana/disable')).headers['x-yulan-notice']).toBe('pending');
    link.up = true;
    link.fail = true;
    expect((await post('/api/v1/integrations/grafana/rotate')).headers['x-yulan-notice']).toBe('pending');
    link.fail = false;
    // The link's next connect repairs what was missed: every account's state again.
    link.notices.length = 0;
    await integrations.service.resendAll();
    expect(link.notices).toEqual([{ name: 'grafana', action: 'cut' }]);
  });

  it('audits the health grant and every connection holding it, into the people audit log too', async () => {
    const r = await post('/api/v1/integrations', { name: 'ops', rules: [{ filter: 'yulan/v1/+/+/+/event', read: true }] });
    const secret = r.json().secret as string;
    expect(healthAudit).toEqual([]);
    await app.inject({ method: 'PATCH', url: '/api/v1/integrations/ops', headers: auth, payload: { healthGrant: true } });
    await brokerCheck('ops', secret);
    await app.inject({ method: 'PATCH', url: '/api/v1/integrations/ops', headers: auth, payload: { healthGrant: false } });
    expect(healthAudit.map((e) => e.action)).toEqual(['integration.health-grant', 'integration.health-connect', 'integration.health-revoke']);
    expect(healthAudit[1]).toMatchObject({ actor: 'broker', residentId: null, purpose: 'integration int:ops' });
    const trail = (await app.inject({ url: '/api/v1/integrations/ops/audit', headers: auth })).json().items as { action: string }[];
    expect(trail.map((e) => e.action)).toEqual(['integration.health-revoke', 'integration.health-connect', 'integration.health-grant', 'integration.create']);
  });

  it('refuses bad input with a clear reason', async () => {
    const cases: [object, string][] = [
      [{ name: 'x1', rules: [{ filter: '$SYS/#', read: true }] }, '$ topics'],
      [{ name: 'x2', rules: [{ filter: 'a/#/b', read: true }] }, '"#" must be a whole last level'],
      [{ name: 'x3', rules: [{ filter: 'yulan/v1/+/toaster/+/event', read: true }] }, 'not a device kind'],
      [{ name: 'x4', rules: [{ filter: 'a/b' }] }, 'neither read nor write'],
      [{ name: 'x5', rules: [] }, 'at least one rule or its namespace'],
      [{ name: 'Admin', rules: [{ filter: '#', read: true }] }, 'must be 1-32'],
      [{ name: 'cloud', rules: [{ filter: '#', read: true }] }, 'reserved'],
    ];
    for (const [body, why] of cases) {
      const r = await post('/api/v1/integrations', body);
      expect(r.statusCode, why).toBe(400);
      expect(r.json().message).toContain(why);
    }
    expect((await post('/api/v1/integrations', { name: 'ops', rules: [{ filter: '#', read: true }] })).statusCode).toBe(409);
    expect((await app.inject({ url: '/api/v1/integrations/none', headers: auth })).statusCode).toBe(404);
    expect((await app.inject({ url: '/api/v1/integrations' })).statusCode).toBe(401);
  });
});
