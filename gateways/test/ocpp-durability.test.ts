import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, proxyTo, RawChargePoint, startPlatform, waitFor, type Platform } from './harness.js';

/** A gateway SIGKILLed mid-session loses nothing it answered: every transaction message
 * that got a CALLRESULT reaches the store after a restart. The broker is made unreachable
 * for the gateway first, so the messages are provably still in its outbox at the kill. */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let p: Platform;
let gw: ChildProcess | undefined;
let port = 0;
const keys: Record<string, string> = {};
/** per-charger mode, or the broker's gateway role (one multiplexed session, docs/ocpp.md §3) */
let modeEnv: Record<string, string> = {};

function startGateway(mqttPort: number): ChildProcess {
  const child = spawn(process.execPath, [join(root, 'cli', 'bin', 'yulan.js'), 'gateway', 'ocpp'], {
    env: { ...process.env, ...p.env, ...modeEnv, YULAN_MQTT_URL: `mqtt://127.0.0.1:${mqttPort}`, YULAN_OCPP_PORT: String(port), YULAN_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return child;
}
const gatewayUp = () => waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok || undefined, 'gateway healthz', 60_000);
const metrics = async () => (await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${p.env.YULAN_GATEWAY_TOKEN}` } })).json()) as { outbox: number };

beforeAll(async () => {
  p = await startPlatform();
  port = await freePort();
  for (const id of ['CPK1', 'MUXK1', 'MUXK2']) keys[id] = await p.addCharger(id);
});
afterAll(async () => {
  gw?.kill('SIGKILL');
  await p?.close();
});

const status = async (id: string): Promise<string> => (await p.api<{ status: string }>(`/api/v1/devices/${id}`)).body.status;

describe('transaction messages across a gateway SIGKILL', () => {
  it.each([
    { mode: 'one MQTT session per charger', id: 'CPK1', other: undefined },
    { mode: 'the broker\'s gateway role (one session for all)', id: 'MUXK1', other: 'MUXK2' },
  ])('every answered StartTransaction / MeterValues / StopTransaction is stored after a restart — $mode', async ({ id, other }) => {
    modeEnv = other === undefined ? {} : p.gatewayRoleEnv;
    const key = keys[id]!;
    const proxy = await proxyTo(p.broker.mqttPort);
    gw = startGateway(proxy.port);
    await gatewayUp();
    const url = `ws://127.0.0.1:${port}/ocpp`;
    let cp = await RawChargePoint.connect(url, id, key);
    expect((await cp.call('BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' }))[2]).toMatchObject({ status: 'Accepted' });
    await waitFor(async () => (await p.api<{ status: string }>(`/api/v1/devices/${id}`)).body.status === 'online' || undefined, 'online');

    const bystander = other === undefined ? undefined : await RawChargePoint.connect(url, other, keys[other]);
    if (bystander) {
      expect((await bystander.call('BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' }))[2]).toMatchObject({ status: 'Accepted' });
      await waitFor(async () => (await status(other!)) === 'online' || undefined, 'bystander online');
    }

    proxy.cut();
    if (other !== undefined) {
      // No last will per charger in this mode: the broker marks every charger of the lost
      // gateway session offline itself.
      for (const d of [id, other]) await waitFor(async () => (await status(d)) === 'offline' || undefined, `${d} offline with its gateway's session`);
    }
    const start = await cp.call('StartTransaction', { connectorId: 1, idTag: 'ANY', meterStart: 0, timestamp: new Date().toISOString() });
    const tx = (start[2] as { transactionId: number }).transactionId;
    const N = 20;
    for (let i = 1; i <= N; i++) {
      const r = await cp.call('MeterValues', { connectorId: 1, transactionId: tx, meterValue: [{
        timestamp: new Date(Date.now() + i).toISOString(), sampledValue: [{ value: String(i * 100), measurand: 'Energy.Active.Import.Register', unit: 'Wh' }],
      }] });
      expect(r[0]).toBe(3);
    }
    expect((await cp.call('StopTransaction', { transactionId: tx, meterStop: N * 100 + 50, timestamp: new Date().toISOString(), reason: 'Local' }))[0]).toBe(3);
    // All answered, none could reach the broker: all are in the outbox now.
    // start: event + reading; stop: reading + event
    expect((await metrics()).outbox).toBe(N + 4);

    gw.kill('SIGKILL');
    await new Promise((r) => gw!.once('exit', r));
    await waitFor(() => cp.closed, 'charger saw the gateway go');
    await proxy.restore();
    gw = startGateway(proxy.port);
    await gatewayUp();
    cp = await waitFor(() => RawChargePoint.connect(url, id, key).catch(() => undefined), 'charger reconnects');
    await cp.call('BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' });

    const stored = await waitFor(async () => {
      const r = await p.api<{ points: { fields: Record<string, number> }[] }>(`/api/v1/devices/${id}/telemetry?resolution=raw&limit=1000`);
      const wh = new Set(r.body.points.map((pt) => Math.round(pt.fields.meter_kwh! * 1000)));
      return Array.from({ length: N }, (_, i) => (i + 1) * 100).every((v) => wh.has(v)) && wh.has(N * 100 + 50) ? wh : undefined;
    }, 'all meter values stored', 60_000);
    expect(stored.has(0)).toBe(true);
    const ev = await waitFor(async () => {
      const r = await p.api<{ events: { type: string; attributes: Record<string, string> }[] }>(`/api/v1/devices/${id}/events`);
      const t = r.body.events.map((e) => e.type);
      return t.includes('charger.session_started') && t.includes('charger.session_stopped') ? r.body.events : undefined;
    }, 'session events stored');
    expect(ev.find((e) => e.type === 'charger.session_stopped')!.attributes.energy_kwh).toBe('2.050');
    await waitFor(async () => ((await metrics()).outbox === 0) || undefined, 'outbox drained');
    if (bystander && other !== undefined) {
      await waitFor(() => bystander.closed, 'bystander saw the gateway go');
      const again = await RawChargePoint.connect(url, other, keys[other]);
      await again.call('BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' });
      await waitFor(async () => (await status(other)) === 'online' || undefined, 'bystander online again');
      again.close();
    }
    cp.close();
    gw.kill('SIGKILL');
    await new Promise((r) => gw!.once('exit', r));
    proxy.close();
  });
});
