import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOcppSimChargers, type OcppFleet } from '@yulan/device-sims';
import { loadOcppGatewayConfig, startOcppGateway, type OcppGatewayHandle } from '../src/index.js';
import { logger, startPlatform, waitFor, type Platform } from './harness.js';

/** Reservations and ClearCache on the simulated OCPP charger, through the real broker,
 * cloud API and gateway: the charger's own answers decide, and its StatusNotifications show
 * the connector Reserved and Available again. */
let p: Platform;
let gw: OcppGatewayHandle;
let fleet: OcppFleet;
let id = '';
type Cmd = { id: string; status: string; message: string | null; output: Record<string, string> };
type Events = { events: { type: string; attributes: Record<string, string> }[] };
const inMin = (m: number): string => new Date(Date.now() + m * 60_000).toISOString();

beforeAll(async () => {
  p = await startPlatform();
  gw = await startOcppGateway(loadOcppGatewayConfig(p.env), logger);
  fleet = await startOcppSimChargers({ gatewayUrl: gw.url, cloud: { url: p.cloudUrl, adminToken: p.adminToken }, site: 'xuhui', rate: 4, scripted: true }, logger);
  id = fleet.ids[0]!;
  for (const [tag, parent] of [['RES-OK', 'FLEET-R'], ['RES-CHILD', 'FLEET-R'], ['RES-OTHER', undefined]] as const) {
    expect((await p.api('/api/v1/id-tags', { method: 'POST', json: { tag, ...(parent ? { parentIdTag: parent } : {}) } })).status).toBe(201);
  }
  expect(await gw.idTags.sync()).toBe(true);
  await waitFor(async () => (await p.api<{ lastValues: unknown }>(`/api/v1/devices/${id}`)).body.lastValues || undefined, 'online with values');
});
afterAll(async () => {
  await fleet?.close();
  await gw?.close();
  await p?.close();
});

async function send(name: string, args: Record<string, string | number>): Promise<Cmd> {
  const r = await p.api<Cmd>(`/api/v1/devices/${id}/commands`, { method: 'POST', json: { name, args } });
  expect(r.status).toBe(201);
  return waitFor(async () => {
    const c = (await p.api<Cmd>(`/api/v1/commands/${r.body.id}`)).body;
    return ['succeeded', 'failed', 'timed_out', 'expired'].includes(c.status) ? c : undefined;
  }, `${name} settled`, 60_000);
}
const charger = () => fleet.chargers[0]!;
const statusIs = (s: string) => waitFor(() => (charger().status === s ? true : undefined), `charger ${s}`, 60_000);
/** Reserved → Available transitions the cloud recorded (from the charger's StatusNotifications). */
const releases = async (): Promise<number> =>
  (await p.api<Events>(`/api/v1/devices/${id}/events?limit=500`)).body.events.filter((e) => e.type === 'charger.status_changed' && e.attributes.from === 'reserved' && e.attributes.to === 'available').length;

describe('OCPP reservations on the simulated charger', () => {
  it('refuses what the charger refuses, with its answer and a reason', async () => {
    await statusIs('Available');
    const other = await send('charger.reserve_now', { connector_id: 2, id_tag: 'RES-OK', expiry: inMin(10) });
    expect(other).toMatchObject({ status: 'failed', output: { ocpp_status: 'Rejected' } });
    expect(other.message).toContain('ReserveNow: Rejected (the charger does not take reservations');
    // connector 0: the gateway asks ReserveConnectorZeroSupported first; this charger cannot say
    const zero = await send('charger.reserve_now', { connector_id: 0, id_tag: 'RES-OK', expiry: inMin(10) });
    expect(zero.status).toBe('failed');
    expect(zero.message).toContain('does not say it supports reserving connector 0');
  }, 120_000);

  it('cancels a reservation, and refuses to cancel one it does not hold', async () => {
    await statusIs('Available');
    const before = await releases();
    const r = await send('charger.reserve_now', { connector_id: 1, id_tag: 'RES-OK', expiry: inMin(10) });
    expect(r).toMatchObject({ status: 'succeeded', output: { ocpp_status: 'Accepted', connector_id: '1' } });
    const reservation = r.output.reservation_id!;
    expect(Number(reservation)).toBeGreaterThan(0);
    await statusIs('Reserved');
    await waitFor(async () => (await p.api<Events>(`/api/v1/devices/${id}/events`)).body.events
      .find((e) => e.type === 'charger.reserved' && e.attributes.reservation_id === reservation), 'charger.reserved event');
    // a second reservation of the same connector: Occupied
    const second = await send('charger.reserve_now', { connector_id: 1, id_tag: 'RES-OTHER', expiry: inMin(10) });
    expect(second).toMatchObject({ status: 'failed', output: { ocpp_status: 'Occupied' } });
    expect(second.message).toContain('in use or already reserved');
    expect(await send('charger.cancel_reservation', { reservation_id: reservation })).toMatchObject({ status: 'succeeded', output: { ocpp_status: 'Accepted' } });
    await waitFor(async () => ((await releases()) > before ? true : undefined), 'Reserved → Available after the cancel');
    const again = await send('charger.cancel_reservation', { reservation_id: reservation });
    expect(again).toMatchObject({ status: 'failed', output: { ocpp_status: 'Rejected' } });
    expect(again.message).toContain('holds no reservation with this id');
  }, 120_000);

  it('gives the connector back when the reservation expires', async () => {
    await statusIs('Available');
    const before = await releases();
    const r = await send('charger.reserve_now', { connector_id: 1, id_tag: 'RES-OK', expiry: new Date(Date.now() + 8000).toISOString() });
    expect(r.status).toBe('succeeded');
    // no cancel: the charger's own expiry makes it Available, reported by StatusNotification
    await waitFor(async () => ((await releases()) > before ? true : undefined), 'Reserved → Available at expiry', 60_000);
    expect(await send('charger.cancel_reservation', { reservation_id: r.output.reservation_id! })).toMatchObject({ status: 'failed', output: { ocpp_status: 'Rejected' } });
  }, 120_000);

  it('clears its cache', async () => {
    expect(await send('charger.clear_cache', {})).toMatchObject({ status: 'succeeded', output: { ocpp_status: 'Accepted' } });
    await waitFor(async () => (await p.api<Events>(`/api/v1/devices/${id}/events`)).body.events.find((e) => e.type === 'charger.cache_cleared'), 'charger.cache_cleared event');
  });

  it('lets only the reserved tag (or a child of its parent) start, and StartTransaction names the reservation', async () => {
    await statusIs('Available');
    const r = await send('charger.reserve_now', { connector_id: 1, id_tag: 'RES-OK', parent_id_tag: 'FLEET-R', expiry: inMin(10) });
    expect(r.status).toBe('succeeded');
    await statusIs('Reserved');
    const stranger = await send('charger.start_session', { connector_id: 1, id_tag: 'RES-OTHER' });
    expect(stranger.status).toBe('failed');
    expect(stranger.message).toContain('RemoteStartTransaction: Rejected');
    expect(charger().status).toBe('Reserved');
    // RES-CHILD is not the reserved tag, but shares its parent FLEET-R (the charger asks Authorize)
    const child = await send('charger.start_session', { connector_id: 1, id_tag: 'RES-CHILD' });
    expect(child.message ?? '').toBe('');
    expect(child.status).toBe('succeeded');
    const started = await waitFor(async () => (await p.api<Events>(`/api/v1/devices/${id}/events`)).body.events
      .find((e) => e.type === 'charger.session_started' && e.attributes.reservation_id === r.output.reservation_id), 'session started on the reservation');
    expect(started.attributes.id_tag).toBe('RES-CHILD');
    // used up: nothing left to cancel
    expect(await send('charger.cancel_reservation', { reservation_id: r.output.reservation_id! })).toMatchObject({ status: 'failed', output: { ocpp_status: 'Rejected' } });
    expect(await send('charger.stop_session', { connector_id: 1 })).toMatchObject({ status: 'succeeded' });
  }, 120_000);
});
