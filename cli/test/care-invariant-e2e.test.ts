import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFleet, type FleetHandle } from '@yulan/device-sims';
import { runUp, type UpHandle } from '../src/up.js';
import { api, eventually, quietLogger, tempDir } from './support.js';

/**
 * Issue 11 cases 1 and 3 across the real path: a simulated fall sensor → broker → edge
 * rules → cloud ladder → a family member's webhook. The edge merges the presses into one
 * alert for 30 minutes; the cloud must still page for a press after the alert was resolved,
 * and tell the person handling it of a press while it is claimed.
 */
describe('a press after the alert was handled reaches a person (broker, edge, cloud)', () => {
  const tmp = tempDir('yulan-care-invariant-e2e-');
  const PASSWORD = 'correct horse battery staple';
  let up: UpHandle;
  let fleet: FleetHandle;
  let hook: Server;
  let base = '';
  let deviceId = '';
  const received: { kind: string; alertId: string }[] = [];

  beforeAll(async () => {
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => { body += c.toString(); });
      req.on('end', () => {
        const b = JSON.parse(body) as { kind: string; alert: { id: string } };
        received.push({ kind: b.kind, alertId: b.alert.id });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    up = await runUp({
      YULAN_DATA_DIR: tmp.dir, YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0',
      YULAN_MQTT_HOST: '127.0.0.1', YULAN_HTTP_HOST: '127.0.0.1', YULAN_OCPP_PORT: '0', YULAN_SIM_OCPP: '0', YULAN_SIM_DEVICES: '0', YULAN_CARE_DEMO: '0',
    }, quietLogger, () => {});
    base = `http://127.0.0.1:${up.httpPort}`;
    const token = up.adminToken!;
    fleet = await runFleet({
      kinds: ['fall-sensor'], countPerKind: 1, sites: ['xuhui'], ratePerDevice: 0.5, qos: 1, seed: 11,
      mqttUrl: `mqtt://127.0.0.1:${up.mqttPort}`, cloud: { url: base, adminToken: token },
      modelOverrides: { fallSensor: { fallsPerDay: 0, sosPerDay: 0 } },
    }, quietLogger);
    await fleet.ready();
    deviceId = fleet.devices[0]!.id;
    const ok = async (method: string, path: string, body?: unknown) => {
      const r = await api<Record<string, unknown>>(base, token, `/api/v1${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    };
    await ok('POST', '/communities', { id: 'tianping', name: 'Tianping' });
    const daughter = (await ok('POST', '/people', {
      login: 'daughter', name: 'Li Wei', role: 'family', locale: 'en', password: PASSWORD,
      channels: [{ type: 'webhook', address: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/daughter` }],
    })).person as { id: string };
    await ok('POST', '/residents', { id: 'wang', name: 'Wang Fang', communityId: 'tianping', ladder: { cancelWindowSec: 0, familyAckSec: 600 } });
    await ok('PUT', '/residents/wang/devices', { deviceIds: [deviceId] });
    await ok('PUT', '/residents/wang/family', { contacts: [{ userId: daughter.id }] });
  }, 120_000);

  afterAll(async () => {
    await fleet?.close();
    await up?.close();
    await new Promise((r) => hook?.close(r));
    tmp.cleanup();
  });

  async function session(): Promise<string> {
    const r = await fetch(`${base}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login: 'daughter', password: PASSWORD }) });
    expect(r.status).toBe(200);
    return ((await r.json()) as { token: string }).token;
  }
  const act = (token: string, alertId: string, what: 'ack' | 'resolve') => api(base, token, `/api/v1/alerts/${encodeURIComponent(alertId)}/${what}`, {
    method: 'POST', ...(what === 'resolve' ? { body: JSON.stringify({ outcome: 'false_alarm' }) } : {}),
  });

  it('SOS → claimed → resolved → SOS again: a new alert pages her; a press while she handles it tells her', async () => {
    const me = await session();
    fleet.scenario(deviceId, 'sos');
    const first = await eventually(() => received.find((r) => r.kind === 'page'), 'the first SOS paged', 30_000);
    expect((await act(me, first.alertId, 'ack')).status).toBe(200);
    expect((await act(me, first.alertId, 'resolve')).status).toBe(200);

    // Case 1: the edge merges this press into its still-open alert; the cloud opens a new one.
    fleet.scenario(deviceId, 'sos');
    const second = await eventually(() => received.find((r) => r.kind === 'page' && r.alertId !== first.alertId), 'the second SOS paged as a new alert', 30_000);
    expect(second.alertId).toBe(`${first.alertId}~2`);
    const old = await api<{ alert: { status: string } }>(base, up.adminToken!, `/api/v1/alerts/${encodeURIComponent(first.alertId)}`);
    expect(old.body.alert.status).toBe('resolved');

    // Case 3: she claims it; another press reaches her at once, and she must confirm it.
    expect((await act(me, second.alertId, 'ack')).status).toBe(200);
    fleet.scenario(deviceId, 'sos');
    await eventually(() => received.find((r) => r.kind === 'update' && r.alertId === second.alertId), 'the third press told to her', 30_000);
    const held = await api<{ alert: { status: string; awaitingConfirmation: string | null; nextDueAtMs: number | null } }>(base, up.adminToken!, `/api/v1/alerts/${encodeURIComponent(second.alertId)}`);
    expect(held.body.alert.status).toBe('acknowledged');
    expect(held.body.alert.awaitingConfirmation).not.toBeNull();
    expect(held.body.alert.nextDueAtMs).not.toBeNull();
    expect((await act(me, second.alertId, 'ack')).status).toBe(200);
    const confirmed = await api<{ alert: { awaitingConfirmation: string | null; nextDueAtMs: number | null } }>(base, up.adminToken!, `/api/v1/alerts/${encodeURIComponent(second.alertId)}`);
    expect(confirmed.body.alert).toMatchObject({ awaitingConfirmation: null, nextDueAtMs: null });
  }, 150_000);
});
