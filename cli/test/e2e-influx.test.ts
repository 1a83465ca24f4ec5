import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchInfluxd, shouldSkipInflux, type Influxd } from '@yulan/testkit';
import { runUp, type UpHandle } from '../src/up.js';
import { api, eventually, quietLogger, tempDir } from './support.js';

interface DeviceView { id: string; kind: string; status: string; lastValues: { fields: Record<string, number> } | null }

// README promise: setting an InfluxDB URL switches the store to InfluxDB. The whole
// platform against a real influxd (1.x, v1 /write and InfluxQL /query).
describe.skipIf(shouldSkipInflux())('yulan up with YULAN_INFLUX_URL', () => {
  const tmp = tempDir('yulan-e2e-influx-');
  let influx: Influxd;
  let up: UpHandle;

  beforeAll(async () => {
    influx = await launchInfluxd();
    await influx.createDatabase('city');
    up = await runUp({
      YULAN_DATA_DIR: tmp.dir, YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0',
      YULAN_MQTT_HOST: '127.0.0.1', YULAN_HTTP_HOST: '127.0.0.1', YULAN_OCPP_PORT: '0', YULAN_SIM_OCPP: '0', YULAN_SIM_DEVICES: '1', YULAN_SIM_RATE: '5', YULAN_SIM_SITES: 'minhang',
      YULAN_INFLUX_URL: influx.url, YULAN_INFLUX_DB: 'city',
    }, quietLogger, () => {});
  });

  afterAll(async () => {
    await up?.close();
    await influx?.dispose();
    tmp.cleanup();
  });

  it('stores the fleet in InfluxDB and serves it back through the API', async () => {
    const base = `http://127.0.0.1:${up.httpPort}`;
    const token = up.adminToken!;
    const health = await (await fetch(`http://127.0.0.1:${up.edgePort}/healthz`)).json() as { store: string };
    expect(health.store).toBe('influxdb');
    const env = await eventually(async () => {
      const r = await api<{ items: DeviceView[] }>(base, token, '/api/v1/devices?kind=env-monitor');
      return r.body.items.find((d) => d.lastValues);
    }, 'an environment monitor with values');
    const points = await eventually(async () => {
      const r = await api<{ points: { seq: number; fields: Record<string, number> }[] }>(base, token, `/api/v1/devices/${env.id}/telemetry?resolution=raw&fields=pm25_ugm3`);
      return r.body.points.length >= 3 ? r.body.points : undefined;
    }, 'raw points from InfluxDB');
    expect(new Set(points.map((p) => p.seq)).size).toBe(points.length);
    // And the rows really are in InfluxDB, not only in the edge's memory.
    const q = await influx.query(`SELECT count(pm25_ugm3) FROM /.*/ WHERE device_id = '${env.id}'`, 'city') as { results: { series?: unknown[] }[] };
    expect(q.results[0]?.series?.length ?? 0).toBeGreaterThan(0);
  });
});
