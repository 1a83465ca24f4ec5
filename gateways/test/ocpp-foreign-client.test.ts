import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchInfluxd, shouldSkipInflux, type Influxd } from '@yulan/testkit';
import { loadEdgeConfig, startEdge, type EdgeHandle } from '@yulan/edge';
import { generateSecret, hashSecret } from '@yulan/protos';
import { loadOcppGatewayConfig, startOcppGateway, type OcppGatewayHandle } from '../src/index.js';
import { ForeignCharger } from './foreign-charger.js';
import { logger, startPlatform, waitFor, type Platform } from './harness.js';

/**
 * The "done when": a charger played by another OCPP 1.6J library (ocpp-ts — its
 * own framing, message ids and schema checks, nothing shared with the gateway's ocpp-rpc or
 * the raw-frame harness) goes through a whole life against the real broker, cloud, an edge
 * on SQLite and a second edge on a real influxd, and every step is checked in the cloud API
 * and in both stores.
 */
const ID = 'ACME-CP7';
const SITE = 'foreign';
let p: Platform;
let gw: OcppGatewayHandle;
let influxd: Influxd;
let influxEdge: EdgeHandle;
let key = '';
let cp: ForeignCharger;
let txId = 0;
const chargers: ForeignCharger[] = [];
const { publicKey, privateKey } = generateKeyPairSync('ed25519');
const keysDir = mkdtempSync(join(tmpdir(), 'yulan-ocpp-foreign-keys-'));
const keysFile = join(keysDir, 'keys.json');
const now = () => new Date().toISOString();
type Cmd = { id: string; status: string; message: string | null };
type Row = Record<string, unknown>;

/** Rows of an InfluxQL SELECT as objects. */
async function influxRows(q: string): Promise<Row[]> {
  const r = await influxd.query(q, 'ocpp') as { results: { series?: { columns: string[]; values: unknown[][] }[] }[] };
  const s = r.results[0]?.series?.[0];
  return s ? s.values.map((v) => Object.fromEntries(s.columns.map((c, i) => [c, v[i]]))) : [];
}
/** GET on the SQLite edge's query API (the cloud reads it too, but this asks the store itself). */
async function sqliteEdge<T>(path: string): Promise<T> {
  const r = await fetch(`http://127.0.0.1:${p.edge.httpPort}${path}`, { headers: { authorization: `Bearer ${p.env.YULAN_EDGE_TOKEN}` } });
  expect(r.status).toBe(200);
  return (await r.json()) as T;
}
async function settled(id: string): Promise<Cmd> {
  return waitFor(async () => {
    const c = (await p.api<Cmd>(`/api/v1/commands/${id}`)).body;
    return ['pending', 'sent', 'acknowledged'].includes(c.status) ? undefined : c;
  }, `command ${id} settled`);
}

describe.skipIf(shouldSkipInflux())('a charger played by another OCPP library (ocpp-ts)', () => {
  beforeAll(async () => {
    influxd = await launchInfluxd();
    await influxd.createDatabase('ocpp');
    writeFileSync(keysFile, JSON.stringify([{ id: 'k1', publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) }]));
    // A broker account for the second edge (service client ids are "<username>:…", so it
    // cannot share the first edge's account without taking over its session).
    const pw = { edge: generateSecret(), cloud: generateSecret(), influxEdge: generateSecret() };
    const accountsFile = join(keysDir, 'accounts.json');
    writeFileSync(accountsFile, JSON.stringify([
      { username: 'edge', role: 'edge', hash: await hashSecret(pw.edge) },
      { username: 'edge-influx', role: 'edge', hash: await hashSecret(pw.influxEdge) },
      { username: 'cloud', role: 'cloud', hash: await hashSecret(pw.cloud) },
    ]), { mode: 0o600 });
    p = await startPlatform({
      YULAN_FIRMWARE_KEYS: keysFile, YULAN_BROKER_ACCOUNTS_FILE: accountsFile, YULAN_EDGE_MQTT_PASSWORD: pw.edge, YULAN_CLOUD_MQTT_PASSWORD: pw.cloud,
    });
    // The second store: another edge on the same broker writing to InfluxDB.
    const influxDir = join(p.dir, 'edge-influx');
    mkdirSync(influxDir);
    const { YULAN_CLOUD_URL: _noUplink, ...edgeEnv } = p.env;
    influxEdge = await startEdge(loadEdgeConfig({
      ...edgeEnv, YULAN_DATA_DIR: influxDir, YULAN_EDGE_HTTP_PORT: '0', YULAN_EDGE_MQTT_USERNAME: 'edge-influx', YULAN_EDGE_MQTT_PASSWORD: pw.influxEdge,
      YULAN_INFLUX_URL: influxd.url, YULAN_INFLUX_DB: 'ocpp',
    }), logger);
    gw = await startOcppGateway(loadOcppGatewayConfig(p.env), logger);
    key = await p.addCharger(ID, SITE);
    expect((await p.api('/api/v1/id-tags', { method: 'POST', json: { tag: 'RFID-ACME-1' } })).status).toBe(201);
    await gw.idTags.sync();
  });
  afterAll(async () => {
    for (const c of chargers) await c.close().catch(() => undefined);
    await gw?.close();
    await influxEdge?.close();
    await p?.close();
    await influxd?.dispose();
    rmSync(keysDir, { recursive: true, force: true });
  });

  it('refuses the wrong key and an unknown id at the upgrade with 401', async () => {
    await expect(ForeignCharger.connect(gw.url, ID, 'not-the-key')).rejects.toThrow(/401/);
    await expect(ForeignCharger.connect(gw.url, 'NOBODY-1', key)).rejects.toThrow(/401/);
  });

  it('boots (Accepted, online in the API), authorizes, reports connector status', async () => {
    cp = await ForeignCharger.connect(gw.url, ID, key);
    chargers.push(cp);
    const boot = await cp.call<{ status: string; interval: number; currentTime: string }>('BootNotification', {
      chargePointVendor: 'Acme', chargePointModel: 'DC50', chargePointSerialNumber: 'SN-7', firmwareVersion: '1.0.0',
    });
    expect(boot).toMatchObject({ status: 'Accepted', interval: 300 });
    expect(Number.isNaN(Date.parse(boot.currentTime))).toBe(false);
    await waitFor(async () => {
      const d = (await p.api<{ status: string; firmwareVersion: string | null }>(`/api/v1/devices/${ID}`)).body;
      return d.status === 'online' && d.firmwareVersion === '1.0.0' || undefined;
    }, 'online with firmware 1.0.0');

    expect(await cp.call('Authorize', { idTag: 'RFID-ACME-1' })).toEqual({ idTagInfo: { status: 'Accepted' } });
    expect(await cp.call('Authorize', { idTag: 'NOT-LISTED' })).toEqual({ idTagInfo: { status: 'Invalid' } });
    expect(await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available', timestamp: now() })).toEqual({});
    await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Preparing', timestamp: now() });
    const events = await waitFor(async () => {
      const r = await p.api<{ events: { type: string }[] }>(`/api/v1/devices/${ID}/events`);
      return r.body.events.some((e) => e.type === 'charger.status_changed') ? r.body.events : undefined;
    }, 'status events');
    expect(events.map((e) => e.type)).toContain('charger.boot');
  });

  it('charges: StartTransaction, MeterValues with units and phases land in the API, SQLite and InfluxDB', async () => {
    const start = await cp.call<{ transactionId: number; idTagInfo: { status: string } }>('StartTransaction', {
      connectorId: 1, idTag: 'RFID-ACME-1', meterStart: 5000, timestamp: now(),
    });
    expect(start.idTagInfo.status).toBe('Accepted');
    txId = start.transactionId;
    expect(Number.isInteger(txId)).toBe(true);
    await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Charging', timestamp: now() });
    // Wh and W per phase this time (the raw-frame e2e test sends kWh and kW totals).
    expect(await cp.call('MeterValues', {
      connectorId: 1, transactionId: txId, meterValue: [{
        timestamp: now(), sampledValue: [
          { value: '7500', measurand: 'Energy.Active.Import.Register', unit: 'Wh', context: 'Sample.Periodic', location: 'Outlet' },
          { value: '3680', measurand: 'Power.Active.Import', phase: 'L1', unit: 'W' },
          { value: '3700', measurand: 'Power.Active.Import', phase: 'L2', unit: 'W' },
          { value: '3620', measurand: 'Power.Active.Import', phase: 'L3', unit: 'W' },
          { value: '16.0', measurand: 'Current.Import', phase: 'L1', unit: 'A' },
          { value: '16.2', measurand: 'Current.Import', phase: 'L2', unit: 'A' },
          { value: '15.8', measurand: 'Current.Import', phase: 'L3', unit: 'A' },
          { value: '229', measurand: 'Voltage', phase: 'L1-N', unit: 'V' },
          { value: '231', measurand: 'Voltage', phase: 'L2-N', unit: 'V' },
          { value: '230', measurand: 'Voltage', phase: 'L3-N', unit: 'V' },
          { value: '61', measurand: 'SoC', unit: 'Percent', location: 'EV' },
        ],
      }],
    })).toEqual({});
    const expected = { meter_kwh: 7.5, energy_kwh: 2.5, power_w: 11000, current_a: 16.2, current_l1_a: 16, current_l3_a: 15.8, voltage_v: 230, soc_pct: 61 };

    const api = await waitFor(async () => {
      const r = await p.api<{ points: { fields: Row }[] }>(`/api/v1/devices/${ID}/telemetry?resolution=raw`);
      return r.body.points.find((pt) => pt.fields.soc_pct === 61);
    }, 'meter values in the cloud API');
    expect(api.fields).toMatchObject(expected);
    const sqlite = await sqliteEdge<{ points: { fields: Row }[] }>(`/v1/telemetry?deviceId=${ID}&resolution=raw`);
    expect(sqlite.points.find((pt) => pt.fields.soc_pct === 61)?.fields).toMatchObject(expected);
    const influx = await waitFor(async () => (await influxRows(`SELECT * FROM "yulan_raw"."reading" WHERE "device_id" = '${ID}' AND "soc_pct" = 61`))[0], 'meter values in InfluxDB');
    expect(influx).toMatchObject({ ...expected, site: SITE, kind: 'ev-charger' });
  });

  it('is stopped remotely through the cloud API: RemoteStopTransaction, StopTransaction, command succeeded', async () => {
    const seen = cp.received.length;
    const posted = await p.api<Cmd>(`/api/v1/devices/${ID}/commands`, { method: 'POST', json: { name: 'charger.stop_session', args: { connector_id: 1 } } });
    expect(posted.status).toBe(201);
    expect(await cp.waitForCall('RemoteStopTransaction', seen)).toEqual({ transactionId: txId });
    await waitFor(async () => (await p.api<Cmd>(`/api/v1/commands/${posted.body.id}`)).body.status === 'acknowledged' || undefined, 'acknowledged');
    // With transactionData, as many chargers send it: the session's last register reading.
    expect(await cp.call('StopTransaction', { transactionId: txId, idTag: 'RFID-ACME-1', meterStop: 9000, timestamp: now(), reason: 'Remote',
      transactionData: [{ timestamp: now(), sampledValue: [{ value: '9000', measurand: 'Energy.Active.Import.Register', unit: 'Wh', context: 'Transaction.End' }] }] }))
      .toEqual({ idTagInfo: { status: 'Accepted' } });
    await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Finishing', timestamp: now() });
    expect((await settled(posted.body.id)).status).toBe('succeeded');

    const stopped = (evs: { type: string; attributes: Row }[]) => evs.find((e) => e.type === 'charger.session_stopped');
    const apiEv = await waitFor(async () => stopped((await p.api<{ events: { type: string; attributes: Row }[] }>(`/api/v1/devices/${ID}/events`)).body.events), 'session_stopped in the API');
    expect(apiEv.attributes).toMatchObject({ transaction_id: String(txId), reason: 'Remote', energy_kwh: '4.000' });
    expect(stopped((await sqliteEdge<{ events: { type: string; attributes: Row }[] }>(`/v1/events?deviceId=${ID}`)).events)).toBeDefined();
    await waitFor(async () => {
      const r = await p.api<{ points: { fields: Row }[] }>(`/api/v1/devices/${ID}/telemetry?resolution=raw`);
      return r.body.points.some((pt) => pt.fields.meter_kwh === 9) || undefined;
    }, 'the transactionData reading (meter 9 kWh)');
    const influxEv = await waitFor(async () => (await influxRows(`SELECT * FROM "yulan_events"."event" WHERE "device_id" = '${ID}' AND "type" = 'charger.session_stopped'`))[0], 'session_stopped in InfluxDB');
    expect(JSON.parse(String(influxEv.attributes))).toMatchObject({ transaction_id: String(txId), reason: 'Remote' });
  });

  it('gets a current limit from the twin as SetChargingProfile; the twin is confirmed', async () => {
    const seen = cp.received.length;
    expect((await p.api(`/api/v1/devices/${ID}/twin/desired`, { method: 'PUT', json: { settings: { current_limit_a: 13 } } })).status).toBe(200);
    const profile = await cp.waitForCall('SetChargingProfile', seen);
    expect(profile).toMatchObject({
      connectorId: 0,
      csChargingProfiles: { chargingProfilePurpose: 'TxDefaultProfile', chargingSchedule: { chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 13 }] } },
    });
    const twin = await waitFor(async () => {
      const t = (await p.api<{ inSync: boolean; reported: { settings: Row } }>(`/api/v1/devices/${ID}/twin`)).body;
      return t.inSync ? t : undefined;
    }, 'twin in sync');
    expect(twin.reported.settings.current_limit_a).toBe(13);
  });

  it('is started remotely: RemoteStartTransaction, then its own StartTransaction and current under the limit confirm it', async () => {
    const seen = cp.received.length;
    const posted = await p.api<Cmd>(`/api/v1/devices/${ID}/commands`, { method: 'POST', json: { name: 'charger.start_session', args: { connector_id: 1, id_tag: 'RFID-ACME-1' } } });
    expect(posted.status).toBe(201);
    expect(await cp.waitForCall('RemoteStartTransaction', seen)).toEqual({ connectorId: 1, idTag: 'RFID-ACME-1' });
    await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Preparing', timestamp: now() });
    const start = await cp.call<{ transactionId: number; idTagInfo: { status: string } }>('StartTransaction', { connectorId: 1, idTag: 'RFID-ACME-1', meterStart: 9000, timestamp: now() });
    expect(start.idTagInfo.status).toBe('Accepted');
    expect(start.transactionId).not.toBe(txId);
    await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Charging', timestamp: now() });
    await cp.call('MeterValues', { connectorId: 1, transactionId: start.transactionId, meterValue: [{ timestamp: now(), sampledValue: [
      { value: '9100', measurand: 'Energy.Active.Import.Register', unit: 'Wh' },
      { value: '12.5', measurand: 'Current.Import', phase: 'L1', unit: 'A' },
      { value: '2875', measurand: 'Power.Active.Import', unit: 'W' },
    ] }] });
    expect((await settled(posted.body.id)).status).toBe('succeeded');
    // The driver ends it at the charger (not a platform command).
    expect(await cp.call('StopTransaction', { transactionId: start.transactionId, meterStop: 9200, timestamp: now(), reason: 'Local' })).toEqual({});
    await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available', timestamp: now() });
  });

  it('takes a firmware campaign: UpdateFirmware, downloads the image, reports progress, reboots on 2.0.0', async () => {
    const image = randomBytes(4096);
    const signature = sign(null, createHash('sha256').update(image).digest(), privateKey).toString('base64');
    const up = await fetch(`${p.cloudUrl}/api/v1/firmware?version=2.0.0&kind=ev-charger&key_id=k1&signature=${encodeURIComponent(signature)}`, {
      method: 'POST', headers: { authorization: `Bearer ${p.adminToken}`, 'content-type': 'application/octet-stream' }, body: image,
    });
    expect(up.status).toBe(201);
    const seen = cp.received.length;
    cp.answers.UpdateFirmware = () => ({});
    const campaign = await p.api<{ id: string }>('/api/v1/campaigns', { method: 'POST', json: {
      firmwareId: ((await up.json()) as { id: string }).id, target: { kind: 'ev-charger', sites: [SITE] }, stages: [1], spreadSec: 0, soakSec: 1, reportEverySec: 30,
    } });
    expect(campaign.status).toBe(201);
    const offer = await cp.waitForCall('UpdateFirmware', seen);
    expect(Number.isNaN(Date.parse(String(offer.retrieveDate)))).toBe(false);
    await cp.call('FirmwareStatusNotification', { status: 'Downloading' });
    const download = await fetch(String(offer.location));
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(image)).toBe(true);
    for (const status of ['Downloaded', 'Installing', 'Installed']) expect(await cp.call('FirmwareStatusNotification', { status })).toEqual({});
    await cp.close();
    cp = await ForeignCharger.connect(gw.url, ID, key);
    chargers.push(cp);
    expect(await cp.call('BootNotification', { chargePointVendor: 'Acme', chargePointModel: 'DC50', firmwareVersion: '2.0.0' })).toMatchObject({ status: 'Accepted' });
    const done = await waitFor(async () => {
      await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available', timestamp: now() });
      const c = (await p.api<{ status: string }>(`/api/v1/campaigns/${campaign.body.id}`)).body;
      return ['completed', 'aborted'].includes(c.status) ? c : undefined;
    }, 'campaign finished', 60_000);
    expect(done.status).toBe('completed');
    const devices = await p.api<{ items: { status: string }[] }>(`/api/v1/campaigns/${campaign.body.id}/devices`);
    expect(devices.body.items.map((d) => d.status)).toEqual(['succeeded']);
    expect((await p.api<{ firmwareVersion: string }>(`/api/v1/devices/${ID}`)).body.firmwareVersion).toBe('2.0.0');
    const fwEvents = await waitFor(async () => {
      const r = await p.api<{ events: { type: string }[] }>(`/api/v1/devices/${ID}/events`);
      return r.body.events.some((e) => e.type === 'firmware.installed') ? r.body.events : undefined;
    }, 'firmware events');
    expect(fwEvents.filter((e) => e.type.startsWith('firmware.')).map((e) => e.type).sort())
      .toEqual(['firmware.downloaded', 'firmware.downloading', 'firmware.installed', 'firmware.installing']);
    // The limit is the twin's, so the rebooted charger is given it again.
    await cp.waitForCall('SetChargingProfile');
  });

  it('a second connection with the same id wins; the first is closed and the newer keeps working', async () => {
    const older = cp;
    cp = await ForeignCharger.connect(gw.url, ID, key);
    chargers.push(cp);
    const closed = await waitFor(() => older.closed, 'older connection closed');
    expect(closed).toEqual({ code: 1000, reason: 'replaced by a newer connection' });
    expect(await cp.call('BootNotification', { chargePointVendor: 'Acme', chargePointModel: 'DC50', firmwareVersion: '2.0.0' })).toMatchObject({ status: 'Accepted' });
    expect(await cp.call('Heartbeat', {})).toHaveProperty('currentTime');
    await waitFor(async () => (await p.api<{ status: string }>(`/api/v1/devices/${ID}`)).body.status === 'online' || undefined, 'still online');
  });
});
