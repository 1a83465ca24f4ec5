import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInProcess } from '../../cli/test/serial-support.js';
import { loadOcppGatewayConfig, startOcppGateway, type OcppGatewayHandle } from '../src/index.js';
import { logger, RawChargePoint, startPlatform, waitFor, type Platform } from './harness.js';

/** Reservations and ClearCache with a charger written from the spec (raw OCPP-J frames):
 * bad input refused by the cloud, a command to an offline charger queued until it is back,
 * connector 0 only where the charger says it supports it, a refused ClearCache, and
 * reservation ids that stay unique across a gateway restart. */
let p: Platform;
let gw: OcppGatewayHandle;
let key = '';
const cps: RawChargePoint[] = [];
type Cmd = { id: string; status: string; message: string | null; output: Record<string, string> };
const inMin = (m: number): string => new Date(Date.now() + m * 60_000).toISOString();

beforeAll(async () => {
  p = await startPlatform();
  gw = await startOcppGateway(loadOcppGatewayConfig(p.env), logger);
  key = await p.addCharger('CP-RES');
});
afterAll(async () => {
  for (const c of cps) c.close();
  await gw?.close();
  await p?.close();
});

/** Connects and boots CP-RES; resolves once the cloud shows it online. */
async function connect(): Promise<RawChargePoint> {
  const cp = await RawChargePoint.connect(gw.url, 'CP-RES', key);
  cps.push(cp);
  expect((await cp.call('BootNotification', { chargePointVendor: 'Acme', chargePointModel: 'AC22' }))[2]).toMatchObject({ status: 'Accepted' });
  await waitFor(async () => ((await p.api<{ status: string }>('/api/v1/devices/CP-RES')).body.status === 'online' ? true : undefined), 'CP-RES online');
  return cp;
}
const post = (name: string, args: Record<string, unknown>) =>
  p.api<Cmd & { code?: string }>('/api/v1/devices/CP-RES/commands', { method: 'POST', json: { name, args } });
const settle = (id: string): Promise<Cmd> => waitFor(async () => {
  const c = (await p.api<Cmd>(`/api/v1/commands/${id}`)).body;
  return ['succeeded', 'failed', 'timed_out', 'expired'].includes(c.status) ? c : undefined;
}, `command ${id} settled`, 60_000);
const callsOf = (cp: RawChargePoint, action: string) => cp.calls.filter((f) => f[2] === action).map((f) => f[3] as Record<string, unknown>);

describe('OCPP reservations, raw-frame charger', () => {
  it('refuses bad input with a 400 naming the argument', async () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [{ connector_id: 1, id_tag: 'T1', expiry: 'tomorrow' }, 'charger.reserve_now', 'argument "expiry"'],
      [{ connector_id: 1, id_tag: 'T1', expiry: new Date(Date.now() - 60_000).toISOString() }, 'charger.reserve_now', 'has passed'],
      [{ connector_id: 1, id_tag: 'T1', expiry: inMin(8 * 24 * 60) }, 'charger.reserve_now', 'at most 7 days'],
      [{ connector_id: 1, expiry: inMin(10) }, 'charger.reserve_now', 'missing argument "id_tag"'],
      [{ connector_id: 1, id_tag: 'X'.repeat(21), expiry: inMin(10) }, 'charger.reserve_now', 'argument "id_tag"'],
      [{ connector_id: 1, id_tag: 'T1', expiry: inMin(10), seat: 3 }, 'charger.reserve_now', 'unknown argument "seat"'],
      [{ reservation_id: 0 }, 'charger.cancel_reservation', 'argument "reservation_id"'],
      [{}, 'charger.cancel_reservation', 'missing argument "reservation_id"'],
      [{ all: true }, 'charger.clear_cache', 'unknown argument "all"'],
    ];
    for (const [args, name, says] of cases) {
      const r = await post(name, args);
      expect(r.status, `${name} ${JSON.stringify(args)}`).toBe(400);
      expect(r.body.message).toContain(says);
    }
  });

  it('queues a reservation for an offline charger and sends it when the charger is back', async () => {
    const first = await connect();
    first.close();
    await waitFor(async () => ((await p.api<{ status: string }>('/api/v1/devices/CP-RES')).body.status === 'offline' ? true : undefined), 'CP-RES offline');
    const r = await post('charger.reserve_now', { connector_id: 1, id_tag: 'T-QUEUED', expiry: inMin(30) });
    expect(r.status).toBe(201);
    expect(r.body.status).toBe('queued');
    const cp = await connect();
    const done = await settle(r.body.id);
    expect(done).toMatchObject({ status: 'succeeded', output: { ocpp_status: 'Accepted', connector_id: '1' } });
    const [call] = callsOf(cp, 'ReserveNow');
    expect(call).toMatchObject({ connectorId: 1, idTag: 'T-QUEUED', reservationId: Number(done.output.reservation_id) });
    expect(Date.parse(String(call!.expiryDate))).toBe(Date.parse(done.output.expiry!));
  });

  it('reserves connector 0 only where ReserveConnectorZeroSupported is true', async () => {
    const cp = cps.at(-1)!;
    cp.answers.GetConfiguration = () => ({ configurationKey: [{ key: 'ReserveConnectorZeroSupported', readonly: true, value: 'false' }] });
    const no = await settle((await post('charger.reserve_now', { connector_id: 0, id_tag: 'T0', expiry: inMin(10) })).body.id);
    expect(no.status).toBe('failed');
    expect(no.message).toContain('ReserveConnectorZeroSupported is false');
    expect(callsOf(cp, 'ReserveNow').some((c) => c.connectorId === 0)).toBe(false);
    cp.answers.GetConfiguration = () => ({ configurationKey: [{ key: 'ReserveConnectorZeroSupported', readonly: true, value: 'true' }] });
    const yes = await settle((await post('charger.reserve_now', { connector_id: 0, id_tag: 'T0', parent_id_tag: 'P0', expiry: inMin(10) })).body.id);
    expect(yes).toMatchObject({ status: 'succeeded', output: { connector_id: '0' } });
    expect(callsOf(cp, 'ReserveNow').find((c) => c.connectorId === 0)).toMatchObject({ idTag: 'T0', parentIdTag: 'P0' });
  });

  it('reports the charger\'s answers: Unavailable, Faulted, a refused ClearCache', async () => {
    const cp = cps.at(-1)!;
    for (const [answer, says] of [['Unavailable', 'unavailable'], ['Faulted', 'faulted']] as const) {
      cp.answers.ReserveNow = () => ({ status: answer });
      const c = await settle((await post('charger.reserve_now', { connector_id: 1, id_tag: 'T1', expiry: inMin(10) })).body.id);
      expect(c).toMatchObject({ status: 'failed', output: { ocpp_status: answer } });
      expect(c.message).toContain(says);
    }
    cp.answers.ClearCache = () => ({ status: 'Rejected' });
    const c = await settle((await post('charger.clear_cache', {})).body.id);
    expect(c).toMatchObject({ status: 'failed', output: { ocpp_status: 'Rejected' } });
    expect(c.message).toContain('refused to clear its authorization cache');
  });

  it('yulan cmd reserves, prints the reservation id, and cancels with it', async () => {
    const cp = cps.at(-1)!;
    delete cp.answers.ReserveNow;
    const env = { YULAN_CLOUD_URL: p.cloudUrl, YULAN_ADMIN_TOKEN: p.adminToken };
    const r = await runInProcess(['cmd', 'CP-RES', 'charger.reserve_now', 'connector_id=1', 'id_tag=T-CLI', `expiry=${inMin(20)}`, '--wait'], env);
    expect(r.code).toBe(0);
    const id = /^ {2}reservation_id=(\d+)$/m.exec(r.stdout)?.[1];
    expect(id, r.stdout).toBeDefined();
    expect(callsOf(cp, 'ReserveNow').find((c) => c.idTag === 'T-CLI')?.reservationId).toBe(Number(id));
    cp.answers.CancelReservation = () => ({ status: 'Rejected' });
    const c = await runInProcess(['cmd', 'CP-RES', 'charger.cancel_reservation', `reservation_id=${id}`, '--wait'], env);
    expect(c.code).toBe(7); // failed on the device
    expect(c.stderr).toContain('holds no reservation with this id');
    delete cp.answers.CancelReservation;
    expect((await runInProcess(['cmd', 'CP-RES', 'charger.cancel_reservation', `reservation_id=${id}`, '--wait'], env)).code).toBe(0);
    // refused by the cloud before anything is sent: exit 4
    expect((await runInProcess(['cmd', 'CP-RES', 'charger.reserve_now', 'connector_id=1', 'id_tag=T-CLI', 'expiry=2020-01-01T00:00:00Z'], env)).code).toBe(4);
  });

  it('never hands out a reservation id twice, also after a gateway restart', async () => {
    const reserve = async () => (await settle((await post('charger.reserve_now', { connector_id: 1, id_tag: 'T1', expiry: inMin(10) })).body.id)).output.reservation_id;
    const before = Number(await reserve());
    await gw.close();
    gw = await startOcppGateway(loadOcppGatewayConfig(p.env), logger);
    await connect();
    const after = Number(await reserve());
    expect(after).toBeGreaterThan(before);
  });
});
