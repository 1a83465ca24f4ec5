import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEdgeConfig, startEdge, type EdgeHandle } from '../src/index.js';
import { EDGE_PASS, connectDevice, envTelemetry, envTopic, publishAll, startBroker, waitFor } from './support/harness.js';
import { launchInfluxd, shouldSkipInflux, type Influxd } from '@yulan/testkit';

const DEVICES = ['env-o1', 'env-o2', 'env-o3'];
const PER_PHASE = 300;

describe.skipIf(shouldSkipInflux())('store-and-forward through an InfluxDB outage (real influxd)', () => {
  let influxd: Influxd;
  let broker: Awaited<ReturnType<typeof startBroker>>;
  let dir: string;
  let edge: EdgeHandle;

  beforeAll(async () => {
    influxd = await launchInfluxd();
    await influxd.createDatabase('outage');
    broker = await startBroker();
    dir = mkdtempSync(join(tmpdir(), 'yulan-edge-outage-'));
    edge = await startEdge(loadEdgeConfig({
      YULAN_DATA_DIR: dir, YULAN_MQTT_URL: broker.url, YULAN_EDGE_MQTT_PASSWORD: EDGE_PASS,
      YULAN_EDGE_TOKEN: 'outage-test-token-0123456789', YULAN_EDGE_HTTP_PORT: '0', YULAN_EDGE_CLIENT_ID: 'edge-outage',
      YULAN_INFLUX_URL: influxd.url, YULAN_INFLUX_DB: 'outage', YULAN_BATCH_SIZE: '500',
    }), pino({ level: 'silent' }));
    await waitFor('edge connected', () => edge.metrics().mqttConnected);
  });
  afterAll(async () => {
    await edge?.close();
    await broker?.close();
    await influxd?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('loses nothing, writes every seq exactly once and keeps per-device order', async () => {
    const T0 = Date.now() - 10 * 60_000;
    const clients = await Promise.all(DEVICES.map((d) => connectDevice(broker.url, d)));
    const phase = (p: number) => Promise.all(DEVICES.map((d, i) => publishAll(clients[i]!, Array.from({ length: PER_PHASE }, (_, k) => {
      const seq = p * PER_PHASE + k + 1;
      return { topic: envTopic(d), payload: envTelemetry(d, seq, T0 + seq * 10) };
    }))));

    await phase(0);
    await waitFor('phase 0 written', () => edge.metrics().written >= DEVICES.length * PER_PHASE);

    await influxd.stop();
    await phase(1);
    await waitFor('store seen down with a backlog', () => {
      const m = edge.metrics();
      return !m.storeUp && m.outboxDepth > 0 && m.storeErrors > 0;
    });
    await phase(2);

    await influxd.start();
    const total = DEVICES.length * PER_PHASE * 3;
    await waitFor('backlog drained', () => {
      const m = edge.metrics();
      return m.storeUp && m.outboxDepth === 0 && m.received === total;
    }, 60_000);
    await Promise.all(clients.map((c) => c.endAsync()));

    for (const d of DEVICES) {
      const res = (await influxd.query(`SELECT "seq" FROM "reading" WHERE "device_id" = '${d}'`, 'outage')) as
        { results: { series?: { values: [number, number][] }[] }[] };
      const seqs = (res.results[0]?.series?.[0]?.values ?? []).map((v) => v[1]);
      expect(seqs.length, d).toBe(PER_PHASE * 3);
      expect(new Set(seqs).size, d).toBe(PER_PHASE * 3);
      // Time order (device time increases with seq) equals seq order.
      expect(seqs, d).toEqual(Array.from({ length: PER_PHASE * 3 }, (_, i) => i + 1));
    }
    const m = edge.metrics();
    expect(m.droppedUnderPressure).toBe(0);
    expect(m.deadLetters).toEqual({});
  });
});
