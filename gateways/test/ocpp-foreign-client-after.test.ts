import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOcppGatewayConfig, startOcppGateway, type OcppGatewayHandle } from '../src/index.js';
import { ForeignCharger } from './foreign-charger.js';
import { logger, startPlatform, waitFor, type Platform } from './harness.js';

/**
 * What comes after the happy path, with the charger played by ocpp-ts (another OCPP 1.6J
 * library): it refuses a remote stop, the gateway restarts under its open transaction,
 * and it retries a StopTransaction whose answer it did not get — each with a new uuid
 * message id, as a library does, so a repeat is recognised by its content.
 */
const ID = 'ACME-CP8';
let p: Platform;
let gw: OcppGatewayHandle;
let cp: ForeignCharger;
let key = '';
let txId = 0;
const chargers: ForeignCharger[] = [];
const now = () => new Date().toISOString();
type Cmd = { id: string; status: string; message: string | null };
type Events = { events: { type: string; attributes: Record<string, string> }[] };

async function connect(): Promise<ForeignCharger> {
  const c = await ForeignCharger.connect(gw.url, ID, key);
  chargers.push(c);
  expect(await c.call('BootNotification', { chargePointVendor: 'Acme', chargePointModel: 'DC50', firmwareVersion: '1.0.0' })).toMatchObject({ status: 'Accepted' });
  return c;
}

beforeAll(async () => {
  p = await startPlatform();
  gw = await startOcppGateway(loadOcppGatewayConfig(p.env), logger);
  key = await p.addCharger(ID, 'after');
  expect((await p.api('/api/v1/id-tags', { method: 'POST', json: { tag: 'RFID-AFTER' } })).status).toBe(201);
  await gw.idTags.sync();
});
afterAll(async () => {
  for (const c of chargers) await c.close().catch(() => undefined);
  await gw?.close();
  await p?.close();
});

describe('an ocpp-ts charger after the happy path', () => {
  it('refuses a remote stop: the command fails with the charger\'s answer and the session goes on', async () => {
    cp = await connect();
    txId = (await cp.call<{ transactionId: number }>('StartTransaction', { connectorId: 1, idTag: 'RFID-AFTER', meterStart: 100_000, timestamp: now() })).transactionId;
    await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Charging', timestamp: now() });
    cp.answers.RemoteStopTransaction = () => ({ status: 'Rejected' });
    const posted = await p.api<Cmd>(`/api/v1/devices/${ID}/commands`, { method: 'POST', json: { name: 'charger.stop_session', args: { connector_id: 1 } } });
    expect(await cp.waitForCall('RemoteStopTransaction')).toEqual({ transactionId: txId });
    const failed = await waitFor(async () => {
      const c = (await p.api<Cmd>(`/api/v1/commands/${posted.body.id}`)).body;
      return c.status === 'failed' ? c : undefined;
    }, 'refused stop fails');
    expect(failed.message).toMatch(/Rejected/);
    expect(await cp.call('MeterValues', { connectorId: 1, transactionId: txId, meterValue: [{ timestamp: now(), sampledValue: [
      { value: '101000', measurand: 'Energy.Active.Import.Register', unit: 'Wh' }, { value: '16', measurand: 'Current.Import', unit: 'A' },
    ] }] })).toEqual({});
    await waitFor(async () => {
      const r = await p.api<{ points: { fields: Record<string, unknown> }[] }>(`/api/v1/devices/${ID}/telemetry?resolution=raw`);
      return r.body.points.some((pt) => pt.fields.energy_kwh === 1) || undefined;
    }, 'the session still metered');
  });

  it('reconnects after a gateway restart; its open transaction keeps its meter start', async () => {
    await gw.close();
    await waitFor(() => cp.closed, 'charger socket closed by the restart');
    gw = await startOcppGateway(loadOcppGatewayConfig(p.env), logger);
    cp = await connect();
    await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Charging', timestamp: now() });
    expect(await cp.call('MeterValues', { connectorId: 1, transactionId: txId, meterValue: [{ timestamp: now(), sampledValue: [
      { value: '103.5', measurand: 'Energy.Active.Import.Register', unit: 'kWh' },
    ] }] })).toEqual({});
    const pt = await waitFor(async () => {
      const r = await p.api<{ points: { fields: Record<string, unknown> }[] }>(`/api/v1/devices/${ID}/telemetry?resolution=raw`);
      return r.body.points.find((x) => x.fields.meter_kwh === 103.5);
    }, 'reading after the restart');
    expect(pt.fields.energy_kwh).toBe(3.5);
  });

  it('retries a StopTransaction (new message id, same content): the same answer, one session_stopped', async () => {
    const stop = { transactionId: txId, idTag: 'RFID-AFTER', meterStop: 104_000, timestamp: now(), reason: 'EVDisconnected' };
    const first = await cp.call('StopTransaction', stop);
    expect(first).toEqual({ idTagInfo: { status: 'Accepted' } });
    expect(await cp.call('StopTransaction', stop)).toEqual(first);
    // Recognised as the same message (not queued again), on the restarted gateway.
    expect(gw.metrics.duplicateTransactionMessages).toBe(1);
    const events = await waitFor(async () => {
      const r = await p.api<Events>(`/api/v1/devices/${ID}/events`);
      return r.body.events.some((e) => e.type === 'charger.session_stopped') ? r.body.events : undefined;
    }, 'session_stopped stored');
    const stopped = events.filter((e) => e.type === 'charger.session_stopped');
    expect(stopped).toHaveLength(1);
    expect(stopped[0]!.attributes).toMatchObject({ transaction_id: String(txId), reason: 'EVDisconnected', energy_kwh: '4.000' });
  });
});
