import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, RawChargePoint, startPlatform, waitFor, type Platform } from './harness.js';

/** A gateway SIGKILLed mid-session loses nothing it answered: every transaction message
 * that got a CALLRESULT reaches the store after a restart. The broker is made unreachable
 * for the gateway first, so the messages are provably still in its outbox at the kill. */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let p: Platform;
let gw: ChildProcess | undefined;
let port = 0;
let key = '';

/** A TCP proxy gateway → broker that can be cut and restored. */
function proxyTo(target: number): Promise<{ port: number; cut(): void; restore(): Promise<void>; close(): void }> {
  const sockets = new Set<Socket>();
  let server: Server;
  const listen = (at: number): Promise<number> => new Promise((resolve) => {
    server = createServer((s) => {
      const up = connect(target, '127.0.0.1');
      sockets.add(s).add(up);
      s.pipe(up).pipe(s);
      const end = (): void => { s.destroy(); up.destroy(); sockets.delete(s); sockets.delete(up); };
      s.on('error', end).on('close', end);
      up.on('error', end).on('close', end);
    });
    server.listen(at, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
  return listen(0).then((at) => ({
    port: at,
    cut() { server.close(); for (const s of sockets) s.destroy(); },
    async restore() { await listen(at); },
    close() { server.close(); for (const s of sockets) s.destroy(); },
  }));
}

function startGateway(mqttPort: number): ChildProcess {
  const child = spawn(process.execPath, [join(root, 'cli', 'bin', 'yulan.js'), 'gateway', 'ocpp'], {
    env: { ...process.env, ...p.env, YULAN_MQTT_URL: `mqtt://127.0.0.1:${mqttPort}`, YULAN_OCPP_PORT: String(port), YULAN_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return child;
}
const gatewayUp = () => waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok || undefined, 'gateway healthz', 60_000);
const metrics = async () => (await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${p.env.YULAN_GATEWAY_TOKEN}` } })).json()) as { outbox: number };

beforeAll(async () => {
  p = await startPlatform();
  port = await freePort();
  key = await p.addCharger('CPK1');
});
afterAll(async () => {
  gw?.kill('SIGKILL');
  await p?.close();
});

describe('transaction messages across a gateway SIGKILL', () => {
  it('every answered StartTransaction / MeterValues / StopTransaction is stored after a restart', async () => {
    const proxy = await proxyTo(p.broker.mqttPort);
    gw = startGateway(proxy.port);
    await gatewayUp();
    const url = `ws://127.0.0.1:${port}/ocpp`;
    let cp = await RawChargePoint.connect(url, 'CPK1', key);
    expect((await cp.call('BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' }))[2]).toMatchObject({ status: 'Accepted' });
    await waitFor(async () => (await p.api<{ status: string }>('/api/v1/devices/CPK1')).body.status === 'online' || undefined, 'online');

    proxy.cut();
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
    cp = await waitFor(() => RawChargePoint.connect(url, 'CPK1', key).catch(() => undefined), 'charger reconnects');
    await cp.call('BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' });

    const stored = await waitFor(async () => {
      const r = await p.api<{ points: { fields: Record<string, number> }[] }>('/api/v1/devices/CPK1/telemetry?resolution=raw&limit=1000');
      const wh = new Set(r.body.points.map((pt) => Math.round(pt.fields.meter_kwh! * 1000)));
      return Array.from({ length: N }, (_, i) => (i + 1) * 100).every((v) => wh.has(v)) && wh.has(N * 100 + 50) ? wh : undefined;
    }, 'all meter values stored', 60_000);
    expect(stored.has(0)).toBe(true);
    const ev = await waitFor(async () => {
      const r = await p.api<{ events: { type: string; attributes: Record<string, string> }[] }>('/api/v1/devices/CPK1/events');
      const t = r.body.events.map((e) => e.type);
      return t.includes('charger.session_started') && t.includes('charger.session_stopped') ? r.body.events : undefined;
    }, 'session events stored');
    expect(ev.find((e) => e.type === 'charger.session_stopped')!.attributes.energy_kwh).toBe('2.050');
    await waitFor(async () => ((await metrics()).outbox === 0) || undefined, 'outbox drained');
    cp.close();
    proxy.close();
  });
});
