import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOcppGatewayConfig, startOcppGateway, type OcppGatewayHandle } from '../src/index.js';
import { logger, RawChargePoint, startPlatform, waitFor, type Platform } from './harness.js';

/** A charger played by raw OCPP-J frames joins through the real gateway, broker, cloud and
 * edge, and every step shows up in the API. */
let p: Platform;
let gw: OcppGatewayHandle;
let key = '';
const cps: RawChargePoint[] = [];
const now = () => new Date().toISOString();
type Cmd = { id: string; status: string; message: string | null };
type Points = { points: { ts: number; fields: Record<string, number | string> }[] };
type Events = { events: { type: string; attributes: Record<string, string> }[] };

/** Lists a tag in the cloud (every site) and has the gateway pull the list. */
async function idTag(tag: string, status = 'Accepted'): Promise<number> {
  const r = await p.api('/api/v1/id-tags', { method: 'POST', json: { tag, status } });
  await gw.idTags.sync();
  return r.status;
}

beforeAll(async () => {
  p = await startPlatform();
  gw = await startOcppGateway(loadOcppGatewayConfig(p.env), logger);
  key = await p.addCharger('CP001');
});
afterAll(async () => {
  for (const c of cps) c.close();
  await gw?.close();
  await p?.close();
});

describe('OCPP 1.6J charger end to end', () => {
  it('boots, authorizes, charges with meter values, is stopped remotely; all visible in the API', async () => {
    const cp = await RawChargePoint.connect(gw.url, 'CP001', key);
    cps.push(cp);
    expect(cp.ws.protocol).toBe('ocpp1.6');
    const boot = await cp.call('BootNotification', { chargePointVendor: 'Acme', chargePointModel: 'AC22', firmwareVersion: '1.2.3' });
    expect(boot[0]).toBe(3);
    expect(boot[2]).toMatchObject({ status: 'Accepted', interval: 300 });
    await waitFor(async () => {
      const d = await p.api<{ status: string; firmwareVersion: string | null }>('/api/v1/devices/CP001');
      return d.body.status === 'online' && d.body.firmwareVersion === '1.2.3';
    }, 'CP001 online with its firmware version');

    expect((await cp.call('Heartbeat', {}))[2]).toHaveProperty('currentTime');
    expect((await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available', timestamp: now() }))[2]).toEqual({});

    expect(await idTag('TAG-OK')).toBe(201);
    expect(await idTag('TAG-BLOCKED', 'Blocked')).toBe(201);
    expect((await cp.call('Authorize', { idTag: 'TAG-OK' }))[2]).toEqual({ idTagInfo: { status: 'Accepted' } });
    expect((await cp.call('Authorize', { idTag: 'nobody' }))[2]).toEqual({ idTagInfo: { status: 'Invalid' } });
    expect((await cp.call('Authorize', { idTag: 'TAG-BLOCKED' }))[2]).toEqual({ idTagInfo: { status: 'Blocked' } });

    await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Preparing', timestamp: now() });
    const startTs = now();
    const start = await cp.call('StartTransaction', { connectorId: 1, idTag: 'TAG-OK', meterStart: 1_000_000, timestamp: startTs });
    const tx = (start[2] as { transactionId: number; idTagInfo: { status: string } });
    expect(tx.idTagInfo.status).toBe('Accepted');
    expect(Number.isInteger(tx.transactionId)).toBe(true);
    // A retried StartTransaction (no answer reached the charger) gets the same transaction.
    const again = await cp.call('StartTransaction', { connectorId: 1, idTag: 'TAG-OK', meterStart: 1_000_000, timestamp: startTs });
    expect((again[2] as { transactionId: number }).transactionId).toBe(tx.transactionId);

    await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Charging', timestamp: now() });
    const mv = await cp.call('MeterValues', {
      connectorId: 1, transactionId: tx.transactionId, meterValue: [{
        timestamp: now(), sampledValue: [
          { value: '1002.5', measurand: 'Energy.Active.Import.Register', unit: 'kWh', context: 'Sample.Periodic' },
          { value: '7.2', measurand: 'Power.Active.Import', unit: 'kW' },
          { value: '10.1', measurand: 'Current.Import', phase: 'L1', unit: 'A' },
          { value: '10.4', measurand: 'Current.Import', phase: 'L2', unit: 'A' },
          { value: '9.9', measurand: 'Current.Import', phase: 'L3', unit: 'A' },
          { value: '231', measurand: 'Voltage', phase: 'L1-N', unit: 'V' },
          { value: '55', measurand: 'SoC', unit: 'Percent', location: 'EV' },
        ],
      }],
    });
    expect(mv[2]).toEqual({});

    const charging = await waitFor(async () => {
      const r = await p.api<Points>('/api/v1/devices/CP001/telemetry?resolution=raw');
      return r.body.points.find((pt) => pt.fields.soc_pct === 55);
    }, 'meter values stored');
    expect(charging.fields).toMatchObject({ energy_kwh: 2.5, power_w: 7200, current_a: 10.4, current_l2_a: 10.4, voltage_v: 231, meter_kwh: 1002.5 });

    // Remote stop through the command API: acknowledged by the charger, succeeded when its
    // reports show no current.
    const posted = await p.api<Cmd>('/api/v1/devices/CP001/commands', { method: 'POST', json: { name: 'charger.stop_session', args: { connector_id: 1 } } });
    expect(posted.status).toBe(201);
    const remote = await waitFor(() => cp.calls.find((c) => c[2] === 'RemoteStopTransaction'), 'RemoteStopTransaction at the charger');
    expect(remote[3]).toEqual({ transactionId: tx.transactionId });
    await waitFor(async () => (await p.api<Cmd>(`/api/v1/commands/${posted.body.id}`)).body.status === 'acknowledged' || undefined, 'acknowledged');
    const stop = { transactionId: tx.transactionId, meterStop: 1_004_000, timestamp: now(), reason: 'Remote', idTag: 'TAG-OK' };
    expect((await cp.call('StopTransaction', stop))[2]).toEqual({ idTagInfo: { status: 'Accepted' } });
    await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Finishing', timestamp: now() });
    const done = await waitFor(async () => {
      const c = (await p.api<Cmd>(`/api/v1/commands/${posted.body.id}`)).body;
      return c.status === 'acknowledged' ? undefined : c;
    }, 'command settled');
    expect(done.status).toBe('succeeded');

    // The same StopTransaction again (the charger did not get our answer): same answer, queued once.
    expect((await cp.call('StopTransaction', stop))[2]).toEqual({ idTagInfo: { status: 'Accepted' } });
    expect(gw.metrics.duplicateTransactionMessages).toBe(2);
    const events = await waitFor(async () => {
      const r = await p.api<Events>('/api/v1/devices/CP001/events');
      const types = r.body.events.map((e) => e.type);
      return types.includes('charger.session_stopped') && types.includes('charger.session_started') ? r.body.events : undefined;
    }, 'session events stored');
    const stopped = events.filter((e) => e.type === 'charger.session_stopped');
    expect(stopped).toHaveLength(1);
    expect(stopped[0]!.attributes).toMatchObject({ transaction_id: String(tx.transactionId), reason: 'Remote', energy_kwh: '4.000' });

    expect((await cp.call('DataTransfer', { vendorId: 'com.acme', messageId: 'x', data: 'y' }))[2]).toEqual({ status: 'UnknownVendorId' });
  });

  it('the current-limit twin becomes a TxDefaultProfile; remote start is sent as RemoteStartTransaction', async () => {
    const cp = cps[0]!;
    const put = await p.api('/api/v1/devices/CP001/twin/desired', { method: 'PUT', json: { settings: { current_limit_a: 16 } } });
    expect(put.status).toBe(200);
    const profile = await waitFor(() => cp.calls.find((c) => c[2] === 'SetChargingProfile'), 'SetChargingProfile');
    expect(profile[3]).toMatchObject({
      connectorId: 0,
      csChargingProfiles: { chargingProfilePurpose: 'TxDefaultProfile', chargingSchedule: { chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 16 }] } },
    });
    await waitFor(async () => (await p.api<{ inSync: boolean }>('/api/v1/devices/CP001/twin')).body.inSync || undefined, 'twin in sync');

    cp.answers.RemoteStartTransaction = () => ({ status: 'Rejected' });
    const posted = await p.api<Cmd>('/api/v1/devices/CP001/commands', { method: 'POST', json: { name: 'charger.start_session', args: { connector_id: 1, id_tag: 'TAG-OK' } } });
    const call = await waitFor(() => cp.calls.find((c) => c[2] === 'RemoteStartTransaction'), 'RemoteStartTransaction');
    expect(call[3]).toEqual({ connectorId: 1, idTag: 'TAG-OK' });
    const failed = await waitFor(async () => {
      const c = (await p.api<Cmd>(`/api/v1/commands/${posted.body.id}`)).body;
      return c.status === 'failed' ? c : undefined;
    }, 'rejected start fails');
    expect(failed.message).toMatch(/Rejected/);
  });

  it('a firmware.update becomes UpdateFirmware; status notifications are events; the reboot on the new version confirms it', async () => {
    let cp = cps[0]!;
    cp.answers.UpdateFirmware = () => ({});
    const posted = await p.api<Cmd>('/api/v1/devices/CP001/commands', { method: 'POST', json: { name: 'firmware.update', args: {
      version: '2.0.0', url: 'https://fw.example/api/v1/firmware/abc/image?device=CP001', token: 'tok-123', sha256: 'a'.repeat(64),
      signature: 'c2ln', size: 1024, key_id: 'ops-1',
    } } });
    expect(posted.status).toBe(201);
    const call = await waitFor(() => cp.calls.find((c) => c[2] === 'UpdateFirmware'), 'UpdateFirmware at the charger');
    expect((call[3] as { location: string }).location).toBe('https://fw.example/api/v1/firmware/abc/image?device=CP001&token=tok-123&version=2.0.0');
    await waitFor(async () => (await p.api<Cmd>(`/api/v1/commands/${posted.body.id}`)).body.status === 'acknowledged' || undefined, 'acknowledged');
    for (const status of ['Downloading', 'Downloaded', 'Installing', 'Installed']) {
      expect((await cp.call('FirmwareStatusNotification', { status }))[2]).toEqual({});
    }
    cp.close();
    cp = await RawChargePoint.connect(gw.url, 'CP001', key);
    cps.push(cp);
    const boot = await cp.call('BootNotification', { chargePointVendor: 'Acme', chargePointModel: 'AC22', firmwareVersion: '2.0.0' });
    // The retained current limit is applied again on the new connection, only after the boot was accepted.
    await waitFor(() => cp.calls.find((c) => c[2] === 'SetChargingProfile'), 'limit re-applied after the reboot');
    expect(cp.frames.findIndex((f) => f[2] === 'SetChargingProfile')).toBeGreaterThan(cp.frames.indexOf(boot));
    const done = await waitFor(async () => {
      const c = (await p.api<Cmd>(`/api/v1/commands/${posted.body.id}`)).body;
      return c.status === 'acknowledged' ? undefined : c;
    }, 'firmware command settled');
    expect(done.status).toBe('succeeded');
    const events = await waitFor(async () => {
      const r = await p.api<Events>('/api/v1/devices/CP001/events');
      return r.body.events.some((e) => e.type === 'firmware.installed') ? r.body.events : undefined;
    }, 'firmware events stored');
    expect(events.filter((e) => e.type.startsWith('firmware.')).map((e) => e.type).sort())
      .toEqual(['firmware.downloaded', 'firmware.downloading', 'firmware.installed', 'firmware.installing']);
  });

  it('configuration, trigger and unlock are commands; they succeed on what the charger answers', async () => {
    const cp = cps[cps.length - 1]!;
    cp.answers.GetConfiguration = () => ({ configurationKey: [{ key: 'HeartbeatInterval', value: '300', readonly: false }], unknownKey: [] });
    cp.answers.ChangeConfiguration = (q) => ({ status: q.key === 'Locked' ? 'Rejected' : 'Accepted' });
    cp.answers.UnlockConnector = () => ({ status: 'Unlocked' });
    const run = async (name: string, args: Record<string, unknown>): Promise<Cmd> => {
      const posted = await p.api<Cmd>('/api/v1/devices/CP001/commands', { method: 'POST', json: { name, args, timeoutSec: 20 } });
      expect(posted.status).toBe(201);
      return waitFor(async () => {
        const c = (await p.api<Cmd>(`/api/v1/commands/${posted.body.id}`)).body;
        return ['succeeded', 'failed', 'timed_out'].includes(c.status) ? c : undefined;
      }, `${name} settled`);
    };
    expect((await run('charger.get_configuration', { key: 'HeartbeatInterval' })).status).toBe('succeeded');
    expect(cp.calls.find((c) => c[2] === 'GetConfiguration')![3]).toEqual({ key: ['HeartbeatInterval'] });
    expect((await run('charger.change_configuration', { key: 'MeterValueSampleInterval', value: '60' })).status).toBe('succeeded');
    const refused = await run('charger.change_configuration', { key: 'Locked', value: 'x' });
    expect(refused).toMatchObject({ status: 'failed' });
    expect(refused.message).toMatch(/Rejected/);
    expect((await run('charger.unlock_connector', { connector_id: 1 })).status).toBe('succeeded');
    cp.answers.TriggerMessage = () => {
      setTimeout(() => void cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available' }), 50);
      return { status: 'Accepted' };
    };
    expect((await run('charger.trigger_message', { message: 'StatusNotification', connector_id: 1 })).status).toBe('succeeded');
    const conf = await waitFor(async () => (await p.api<Events>('/api/v1/devices/CP001/events')).body.events.find((e) => e.type === 'charger.configuration'), 'configuration event');
    expect(conf.attributes).toEqual({ HeartbeatInterval: '300' });
  });
});
