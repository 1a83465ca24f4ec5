import { connect, createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOcppGatewayConfig, startOcppGateway, type OcppGatewayHandle } from '../src/index.js';
import { logger, RawChargePoint, startPlatform, waitFor, type Platform } from './harness.js';

/** A broker that answers "server unavailable" once (cloud slow, start-up hold) must not
 * strand a charger: the gateway's session for it retries and the charger gets Accepted. */
let p: Platform;
let gw: OcppGatewayHandle;
let front: Server;
let refused = 0;

beforeAll(async () => {
  p = await startPlatform();
  // In front of the broker: the first MQTT connection gets CONNACK 3, the rest pass through.
  front = createServer((s) => {
    if (refused === 0) {
      refused++;
      s.once('data', () => s.end(Buffer.from([0x20, 0x02, 0x00, 0x03])));
      s.on('error', () => {});
      return;
    }
    const up = connect(p.broker.mqttPort, '127.0.0.1');
    s.pipe(up).pipe(s);
    s.on('error', () => up.destroy());
    up.on('error', () => s.destroy());
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', () => r()));
  const port = (front.address() as { port: number }).port;
  gw = await startOcppGateway(loadOcppGatewayConfig({ ...p.env, YULAN_MQTT_URL: `mqtt://127.0.0.1:${port}` }), logger);
});
afterAll(async () => {
  await gw?.close();
  front?.close();
  await p?.close();
});

describe('broker unavailable for a moment', () => {
  it('the charger is Accepted once the broker takes its session', async () => {
    const key = await p.addCharger('CPU1');
    const cp = await RawChargePoint.connect(gw.url, 'CPU1', key);
    const accepted = await waitFor(async () => {
      const r = await cp.call('BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' });
      return (r[2] as { status: string }).status === 'Accepted' ? r : undefined;
    }, 'boot accepted', 60_000);
    expect(accepted[0]).toBe(3);
    expect(refused).toBe(1);
    await waitFor(async () => (await p.api<{ status: string }>('/api/v1/devices/CPU1')).body.status === 'online' || undefined, 'online');
    cp.close();
  });
});
