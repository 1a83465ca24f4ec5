import mqtt from 'mqtt';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOcppGatewayConfig, startOcppGateway, type OcppGatewayHandle } from '../src/index.js';
import { logger, RawChargePoint, startPlatform, waitFor, type Platform } from './harness.js';

/** Bad input gets the spec's answer, and the gateway and the other chargers carry on. */
let p: Platform;
let gw: OcppGatewayHandle;
const keys: Record<string, string> = {};
const open: RawChargePoint[] = [];
let bystander: RawChargePoint;

async function cp(id: string): Promise<RawChargePoint> {
  const c = await RawChargePoint.connect(gw.url, id, keys[id]!);
  open.push(c);
  return c;
}
/** The other charger still gets answers: the gateway is unaffected. */
async function bystanderFine(): Promise<void> {
  const f = await bystander.call('Heartbeat', {});
  expect(f[0]).toBe(3);
  expect(bystander.closed).toBeUndefined();
}
const status = async (id: string, key: string | undefined, protocols?: string[]): Promise<number> =>
  RawChargePoint.connect(gw.url, id, key, protocols).then((c) => { c.close(); return 101; }, (e: { status?: number }) => e.status ?? -1);

beforeAll(async () => {
  p = await startPlatform();
  gw = await startOcppGateway(loadOcppGatewayConfig({ ...p.env, YULAN_OCPP_MAX_FRAME_BYTES: '8192', YULAN_OCPP_RATE_PER_S: '2', YULAN_OCPP_RATE_BURST: '10' }), logger);
  for (const id of ['BAD1', 'FLOOD1', 'DUP1', 'BIG1', 'OFF1', 'BYSTANDER']) keys[id] = await p.addCharger(id);
  bystander = await cp('BYSTANDER');
  expect((await bystander.call('BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' }))[2]).toMatchObject({ status: 'Accepted' });
});
afterAll(async () => {
  for (const c of open) c.close();
  await gw?.close();
  await p?.close();
});

describe('security profile 1 at the upgrade', () => {
  it('refuses a wrong key, an unknown id and missing credentials with 401, and other subprotocols with 400', async () => {
    expect(await status('BAD1', 'not-the-key')).toBe(401);
    expect(await status('NOSUCH', keys.BAD1)).toBe(401);
    expect(await status('BAD1', undefined)).toBe(401);
    expect(await status('BAD1', keys.BAD1, ['ocpp2.0.1'])).toBe(400);
    expect(gw.metrics.upgradesRefused).toMatchObject({ 'bad-credentials': 2, 'no-credentials': 1, subprotocol: 1 });
    // and the right key still works afterwards
    expect(await status('BAD1', keys.BAD1)).toBe(101);
  });

  it('cuts the socket of a charger whose device is disabled, and refuses it after', async () => {
    const c = await cp('OFF1');
    await c.call('BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' });
    expect((await p.api('/api/v1/devices/OFF1/disable', { method: 'POST' })).status).toBe(200);
    await waitFor(() => c.closed, 'socket cut');
    expect(c.closed!.code).toBe(1008);
    expect(await status('OFF1', keys.OFF1)).toBe(401);
    await bystanderFine();
  });

  it('the gateway token opens device-auth only, not the admin API', async () => {
    const res = await fetch(`${p.cloudUrl}/api/v1/devices`, { headers: { authorization: `Bearer ${p.env.YULAN_GATEWAY_TOKEN}` } });
    expect(res.status).toBe(401);
    const auth = await fetch(`${p.cloudUrl}/api/v1/internal/device-auth`, {
      method: 'POST', headers: { authorization: `Bearer ${p.env.YULAN_GATEWAY_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ deviceId: 'BYSTANDER', secret: keys.BYSTANDER }),
    });
    expect(auth.status).toBe(200);
  });

  it('the gateway credential grants nothing on the broker: it cannot publish as any device', async () => {
    const url = p.env.YULAN_MQTT_URL!;
    await expect(mqtt.connectAsync(url, { clientId: 'gateway', username: 'gateway', password: p.env.YULAN_GATEWAY_TOKEN!, reconnectPeriod: 0 }))
      .rejects.toMatchObject({ code: 4 });
    await expect(mqtt.connectAsync(url, { clientId: 'BYSTANDER', username: 'BYSTANDER', password: p.env.YULAN_GATEWAY_TOKEN!, reconnectPeriod: 0 }))
      .rejects.toMatchObject({ code: 4 });
  });
});

describe('bad frames get the OCPP-J error, the connection and the others carry on', () => {
  it('malformed JSON → FormationViolation; off-schema → Type/PropertyConstraintViolation; unknown action → NotImplemented', async () => {
    const c = await cp('BAD1');
    const from = c.frames.length;
    c.ws.send('[2, "x1", "Heartbeat", {');
    const fv = await c.nextUnsolicited(from, (f) => f[0] === 4);
    expect(fv[2]).toBe('FormationViolation');
    expect((await c.raw('{"not": "an array"}', ''))[2]).toBe('FormationViolation');
    const type = await c.call('BootNotification', { chargePointVendor: 5, chargePointModel: 'M' });
    expect(type.slice(0, 1).concat(type[2])).toEqual([4, 'TypeConstraintViolation']);
    const prop = await c.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available', colour: 'red' });
    expect(prop[2]).toBe('PropertyConstraintViolation');
    const badEnum = await c.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Dancing' });
    expect(badEnum[0]).toBe(4);
    expect((await c.call('FlyToTheMoon', {}))[2]).toBe('NotImplemented');
    expect((await c.raw('[2, "x2", "Heartbeat"]', 'x2'))[2]).toBe('FormationViolation');
    expect((await c.raw('[7, "x3", "Heartbeat", {}]', 'x3'))[2]).toBe('ProtocolError');
    expect((await c.call('Heartbeat', {}))[0]).toBe(3);
    expect(c.closed).toBeUndefined();
    await bystanderFine();
  });

  it('a uniqueId already in progress → ProtocolError; the first call is answered', async () => {
    const c = await cp('DUP1');
    const from = c.frames.length;
    // Both in one write: the second arrives while the Boot (which awaits the broker session) runs.
    c.ws.send(JSON.stringify([2, 'same', 'BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' }]));
    c.ws.send(JSON.stringify([2, 'same', 'Heartbeat', {}]));
    const both = await waitFor(() => { const f = c.frames.slice(from).filter((x) => x[1] === 'same'); return f.length === 2 ? f : undefined; }, 'two answers');
    expect(both.map((f) => f[0]).sort()).toEqual([3, 4]);
    expect(both.find((f) => f[0] === 4)![2]).toBe('ProtocolError');
    await bystanderFine();
  });

  it('an oversized frame closes that connection only (1009)', async () => {
    const c = await cp('BIG1');
    c.ws.send(JSON.stringify([2, 'big', 'DataTransfer', { vendorId: 'v', data: 'x'.repeat(20_000) }]));
    await waitFor(() => c.closed, 'oversized connection closed');
    expect(c.closed!.code).toBe(1009);
    await waitFor(() => gw.metrics.oversizedFrames >= 1 || undefined, 'counted');
    await bystanderFine();
    const again = await cp('BIG1');
    expect((await again.call('Heartbeat', {}))[0]).toBe(3);
  });

  it('a flood from one charger is rate-limited (GenericError, then closed); the others are served', async () => {
    const c = await cp('FLOOD1');
    const from = c.frames.length;
    for (let i = 0; i < 60; i++) c.ws.send(JSON.stringify([2, `f${i}`, 'Heartbeat', {}]));
    await waitFor(() => c.closed, 'flooder closed');
    const limited = c.frames.slice(from).filter((f) => f[0] === 4 && f[2] === 'GenericError');
    expect(limited.length).toBeGreaterThan(0);
    expect(String(limited[0]![3])).toMatch(/rate limit/);
    expect(c.closed!.code).toBe(1008);
    expect(gw.metrics.rateLimited).toBeGreaterThan(10);
    await bystanderFine();
  });

  it('a second connection with the same id wins; the older is closed', async () => {
    const first = await cp('DUP1');
    const second = await cp('DUP1');
    await waitFor(() => first.closed, 'older connection closed');
    expect(first.closed!.reason).toMatch(/newer/);
    expect((await second.call('Heartbeat', {}))[0]).toBe(3);
    expect((await second.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available' }))[0]).toBe(3);
    await waitFor(async () => (await p.api<{ status: string }>('/api/v1/devices/DUP1')).body.status === 'online' || undefined, 'still online');
    await bystanderFine();
  });
});

void WebSocket;
