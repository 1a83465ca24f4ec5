import { describe, expect, it, afterAll } from 'vitest';
import { Mr60fda1Emulator, Pms5003Emulator } from '../../device-sims/src/serial/index.js';
import { loadSerialHttpConfig, startSerialGateway, startSerialHttp, type SerialGatewayConfig } from '../src/serial/index.js';
import { eventually, pty, quietLogger, socatAvailable, tempDir } from './serial-support.js';

interface DeviceMetrics { port: string; sensor: string; online: boolean; frames: number; checksumErrors: number; lengthErrors: number; garbageBytes: number; disconnects: number; silences: number }
interface Metrics { devices: Record<string, DeviceMetrics>; totals: { checksumErrors: number; garbageBytes: number } }

describe('serial gateway HTTP settings (YULAN_SERIAL_HTTP_*)', () => {
  it('is off unless a port is set, loopback by default, and refuses a public host without a token', () => {
    expect(loadSerialHttpConfig({})).toBeUndefined();
    expect(loadSerialHttpConfig({ YULAN_SERIAL_HTTP_PORT: '8086' })).toEqual({ host: '127.0.0.1', port: 8086 });
    expect(() => loadSerialHttpConfig({ YULAN_SERIAL_HTTP_PORT: '70000' })).toThrow(/YULAN_SERIAL_HTTP_PORT: must be 0..65535/);
    expect(() => loadSerialHttpConfig({ YULAN_SERIAL_HTTP_PORT: 'x' })).toThrow(/YULAN_SERIAL_HTTP_PORT/);
    expect(() => loadSerialHttpConfig({ YULAN_SERIAL_HTTP_PORT: '0', YULAN_SERIAL_HTTP_HOST: '0.0.0.0' })).toThrow(/not loopback; set YULAN_SERIAL_HTTP_TOKEN/);
    expect(() => loadSerialHttpConfig({ YULAN_SERIAL_HTTP_PORT: '0', YULAN_SERIAL_HTTP_TOKEN: 'short' })).toThrow(/YULAN_SERIAL_HTTP_TOKEN/);
    expect(loadSerialHttpConfig({ YULAN_SERIAL_HTTP_PORT: '0', YULAN_SERIAL_HTTP_HOST: '0.0.0.0', YULAN_SERIAL_HTTP_TOKEN: 'a'.repeat(32) }))
      .toEqual({ host: '0.0.0.0', port: 0, token: 'a'.repeat(32) });
  });
});

// The drop counters per device and port, through real ptys: injected faults must show up on /metrics.
describe.skipIf(!socatAvailable())('serial gateway /healthz and /metrics over ptys', () => {
  const tmp = tempDir('yulan-serial-http-');
  const cleanups: (() => Promise<void> | void)[] = [];
  afterAll(async () => { for (const c of cleanups.reverse()) await c(); tmp.cleanup(); });

  it('counts injected checksum errors and garbage per device and port, behind the token when one is set', async () => {
    const pmsPair = await pty(tmp.dir, 'pms');
    const radarPair = await pty(tmp.dir, 'radar');
    cleanups.push(() => pmsPair.unplug(), () => radarPair.unplug());
    const pms = new Pms5003Emulator({ path: pmsPair.device, intervalMs: 100 });
    const radar = new Mr60fda1Emulator({ path: radarPair.device, movementIntervalMs: 100 });
    await Promise.all([pms.start(), radar.start()]);
    cleanups.push(() => pms.close(), () => radar.close());
    const config: SerialGatewayConfig = {
      // Nothing listens there: the serial side and its counters work without the broker.
      mqttUrl: 'mqtt://127.0.0.1:9', credentialsFile: 'unused', minBackoffMs: 50, maxBackoffMs: 400,
      devices: [
        { id: 'env-http-1', site: 'xuhui', kind: 'env-monitor', sensor: 'pms5003', port: pmsPair.host, mode: 'passive', intervalS: 1, dutyCycle: false },
        { id: 'fall-http-1', site: 'xuhui', kind: 'fall-sensor', sensor: 'mr60fda1', port: radarPair.host },
      ],
    };
    const gw = startSerialGateway(config, new Map([['env-http-1', 's1'], ['fall-http-1', 's2']]), quietLogger);
    cleanups.push(() => gw.close());
    const token = 't'.repeat(32);
    const http = await startSerialHttp(gw, loadSerialHttpConfig({ YULAN_SERIAL_HTTP_PORT: '0', YULAN_SERIAL_HTTP_TOKEN: token })!, quietLogger);
    cleanups.push(() => http.close());
    const base = `http://127.0.0.1:${http.port}`;
    const metrics = async (): Promise<Metrics> => {
      const r = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      expect(r.status).toBe(200);
      return (await r.json()) as Metrics;
    };

    await eventually(async () => (await metrics()).devices['env-http-1']!.frames >= 1 && (await metrics()).devices['fall-http-1']!.frames >= 1, 'frames from both modules');
    const start = await metrics();
    expect(start.devices['env-http-1']).toMatchObject({ port: pmsPair.host, sensor: 'pms5003', online: true, checksumErrors: 0, disconnects: 0 });
    expect(start.devices['fall-http-1']).toMatchObject({ port: radarPair.host, sensor: 'mr60fda1', online: true, checksumErrors: 0 });

    // Two corrupted frames and some garbage on the PMS5003's line only.
    pms.corruptNext();
    await eventually(async () => (await metrics()).devices['env-http-1']!.checksumErrors === 1, 'first checksum error on /metrics');
    pms.corruptNext();
    pms.injectGarbage(Uint8Array.from([0x13, 0x37, 0x00, 0x42, 0x00]));
    const after = await eventually(async () => {
      const m = await metrics();
      return m.devices['env-http-1']!.checksumErrors === 2 && m.devices['env-http-1']!.garbageBytes > 0 ? m : undefined;
    }, 'second checksum error and garbage on /metrics');
    expect(after.devices['fall-http-1']!.checksumErrors).toBe(0);
    expect(after.totals.checksumErrors).toBe(2);
    // And a corrupted radar frame lands on the radar's line.
    radar.corruptNext();
    await eventually(async () => (await metrics()).devices['fall-http-1']!.checksumErrors === 1, 'radar checksum error on /metrics');

    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    // No broker: the sensors are up but their MQTT sessions are not.
    expect(await health.json()).toEqual({ status: 'degraded', devices: 2, up: 0 });
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    expect((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });
});
