import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOcppGatewayConfig, startOcppGateway, type OcppGatewayHandle } from '../src/index.js';
import { RawChargePoint, logger, startPlatform, waitFor, type Platform } from './harness.js';

/** The multiplexed mode (docs/ocpp.md §3): the gateway speaks for every charger through one
 * session of its `gateway` broker account, which may speak only for chargers bound to it. */
let p: Platform;
let gw: OcppGatewayHandle;
const keys: Record<string, string> = {};
const ids = ['MUX1', 'MUX2', 'MUX3'];
const cps: Record<string, RawChargePoint> = {};
const boot = { chargePointVendor: 'V', chargePointModel: 'M' };

const deviceStatus = async (id: string): Promise<string> => (await p.api<{ status: string }>(`/api/v1/devices/${id}`)).body.status;

beforeAll(async () => {
  p = await startPlatform();
  for (const id of [...ids, 'MUXOFF']) keys[id] = await p.addCharger(id);
  gw = await startOcppGateway(loadOcppGatewayConfig({ ...p.env, ...p.gatewayRoleEnv }), logger);
  await waitFor(async () => (await (await fetch(`http://127.0.0.1:${gw.port}/healthz`)).json() as { brokerSession?: boolean }).brokerSession || undefined, 'gateway session up');
});
afterAll(async () => {
  for (const c of Object.values(cps)) c.close();
  await gw?.close();
  await p?.close();
});

describe('OCPP gateway through the broker\'s gateway role', () => {
  it('holds every charger on one broker session: online, data stored, commands reach the charger', async () => {
    const sessionsBefore = p.broker.metrics().connections.current;
    for (const id of [...ids, 'MUXOFF']) {
      cps[id] = await RawChargePoint.connect(gw.url, id, keys[id]);
      expect((await cps[id]!.call('BootNotification', boot))[2]).toMatchObject({ status: 'Accepted' });
    }
    for (const id of [...ids, 'MUXOFF']) await waitFor(async () => (await deviceStatus(id)) === 'online' || undefined, `${id} online`);
    // four chargers, no new broker session (per-charger mode would have opened four)
    expect(p.broker.metrics().connections.current).toBe(sessionsBefore);

    await cps.MUX2!.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Preparing' });
    await waitFor(async () => {
      const r = await p.api<{ events: { type: string }[] }>('/api/v1/devices/MUX2/events');
      return r.body.events.some((e) => e.type === 'charger.status_changed') || undefined;
    }, 'status event stored');

    const from = cps.MUX3!.calls.length;
    const cmd = await p.api<{ id: string }>('/api/v1/devices/MUX3/commands', { method: 'POST', json: { name: 'charger.start_session', args: { connector_id: 1, id_tag: 'TAG-MUX' } } });
    expect(cmd.status).toBe(201);
    await waitFor(() => cps.MUX3!.calls.slice(from).find((f) => f[2] === 'RemoteStartTransaction'), 'RemoteStart reached the charger');
    // and only that charger
    expect(cps.MUX1!.calls.some((f) => f[2] === 'RemoteStartTransaction')).toBe(false);
  });

  it('disabling a device cuts its charger only; it is refused after, the others keep working', async () => {
    expect((await p.api('/api/v1/devices/MUXOFF/disable', { method: 'POST' })).status).toBe(200);
    await waitFor(() => cps.MUXOFF!.closed, 'socket cut');
    expect(cps.MUXOFF!.closed!.code).toBe(1008);
    await expect(RawChargePoint.connect(gw.url, 'MUXOFF', keys.MUXOFF)).rejects.toMatchObject({ status: 401 });
    await waitFor(async () => (await deviceStatus('MUXOFF')) !== 'online' || undefined, 'MUXOFF not online');
    for (const id of ids) {
      expect((await cps[id]!.call('Heartbeat', {}))[0]).toBe(3);
      expect(await deviceStatus(id)).toBe('online');
    }
  });

  it('a charger closing its connection goes offline; reconnecting brings it back', async () => {
    cps.MUX1!.close();
    await waitFor(async () => (await deviceStatus('MUX1')) === 'offline' || undefined, 'MUX1 offline');
    expect(await deviceStatus('MUX2')).toBe('online');
    cps.MUX1 = await RawChargePoint.connect(gw.url, 'MUX1', keys.MUX1);
    expect((await cps.MUX1.call('BootNotification', boot))[2]).toMatchObject({ status: 'Accepted' });
    await waitFor(async () => (await deviceStatus('MUX1')) === 'online' || undefined, 'MUX1 online again');
  });
});
