import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Channel, DeviceKind, Event } from '@yulan/protos';
import { loadEdgeConfig, Outbox, startEdge, type EdgeConfig, type EdgeHandle, type StoreRecord } from '../src/index.js';
import { EDGE_PASS, connectDevice, envTelemetry, envTopic, publishAll, startBroker, waitFor } from './support/harness.js';

const TOKEN = 'erase-test-token-0123456789abcdef';
const logger = pino({ level: 'silent' });
const M = 60_000;

describe('edge erasure API (DELETE /v1/data): store, open windows, latest cache, restart', () => {
  let broker: Awaited<ReturnType<typeof startBroker>>;
  let dir: string;
  let config: EdgeConfig;
  let edge: EdgeHandle | undefined;
  // Device time just behind the edge clock; a 10-minute grace keeps its windows open
  // until the device's own clock moves on (a later reading), which the test controls.
  const T0w = Date.now() - 4 * M - ((Date.now() - 4 * M) % M);
  const FROM = T0w + 90_000;
  const TO = T0w + 10 * M;
  const DEV = 'env-erase';

  const call = async (method: string, path: string, token: string | null = TOKEN) => {
    const res = await fetch(`http://127.0.0.1:${edge!.httpPort}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: res.status, body: (await res.json()) as any };
  };
  const raw = async () => (await call('GET', `/v1/telemetry?deviceId=${DEV}&from=${T0w}&to=${T0w + 60 * M}&limit=10000`)).body.points as { ts: number; seq: number }[];
  const aggs = async () => (await call('GET', `/v1/telemetry?deviceId=${DEV}&resolution=1m&from=${T0w - M}&to=${T0w + 60 * M}`)).body.points as { ts: number }[];
  const events = async () => (await call('GET', `/v1/events?deviceId=${DEV}&from=${T0w}&to=${T0w + 60 * M}`)).body.events as { seq: number }[];
  const publish = async (msgs: { topic: string; payload: Uint8Array }[]) => {
    const dev = await connectDevice(broker.url, DEV);
    await publishAll(dev, msgs);
    await dev.endAsync();
  };

  beforeAll(async () => {
    broker = await startBroker();
    dir = mkdtempSync(join(tmpdir(), 'yulan-edge-erase-'));
    config = {
      ...loadEdgeConfig({
        YULAN_DATA_DIR: dir, YULAN_MQTT_URL: broker.url, YULAN_EDGE_MQTT_PASSWORD: EDGE_PASS,
        YULAN_EDGE_TOKEN: TOKEN, YULAN_EDGE_HTTP_PORT: '0', YULAN_EDGE_CLIENT_ID: 'edge-erase',
      }),
      windowGraceMs: 10 * M,
      maxFutureSkewMs: 30 * M,
    };
    edge = await startEdge(config, logger);
    await waitFor('edge connected', () => edge!.metrics().mqttConnected);
  });
  afterAll(async () => {
    await edge?.close();
    await broker?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('needs the edge token and an explicit range', async () => {
    expect((await call('DELETE', `/v1/data?deviceId=${DEV}&from=${FROM}&to=${TO}`, null)).status).toBe(401);
    expect((await call('DELETE', `/v1/data?deviceId=${DEV}&from=${FROM}&to=${TO}`, 'wrong')).status).toBe(401);
    expect((await call('DELETE', `/v1/data?deviceId=${DEV}&to=${TO}`)).status).toBe(400);
    expect((await call('DELETE', `/v1/data?deviceId=${DEV}&from=${TO}&to=${FROM}`)).status).toBe(400);
    expect((await call('DELETE', `/v1/data?deviceId=bad id&from=${FROM}&to=${TO}`)).status).toBe(400);
  });

  it('erases readings, events, aggregates (also of still-open windows) and the latest value; keeps the rest, across a restart', async () => {
    // 16 readings, one every 15 s over four 1-minute windows, and two events.
    const msgs = [];
    for (let k = 0; k < 16; k++) msgs.push({ topic: envTopic(DEV), payload: envTelemetry(DEV, k + 1, T0w + k * 15_000) });
    for (const [seq, ts] of [[50, T0w + 30_000], [51, T0w + 2 * M]] as const) {
      msgs.push({
        topic: envTopic(DEV, Channel.Event),
        payload: Event.encode({ header: { deviceId: DEV, kind: DeviceKind.ENV_MONITOR, seq, tsMs: ts }, type: 'env.pm_high', severity: 2, message: 'x', attributes: {} }),
      });
    }
    await publish(msgs);
    await waitFor('stored', async () => (await raw()).length === 16 && (await events()).length === 2);
    expect((await call('GET', `/v1/latest?deviceId=${DEV}`)).body.devices[DEV].seq).toBe(16);

    const erased = await call('DELETE', `/v1/data?deviceId=${DEV}&from=${FROM}&to=${TO}`);
    expect(erased).toMatchObject({ status: 200, body: { deviceId: DEV, from: FROM, to: TO } });
    expect((await raw()).map((p) => p.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect((await events()).map((e) => e.seq)).toEqual([50]);
    // the cached latest value falls back to the newest reading left
    expect((await call('GET', `/v1/latest?deviceId=${DEV}`)).body.devices[DEV]).toMatchObject({ seq: 6, ts: T0w + 75_000 });
    // erasing again is fine
    expect((await call('DELETE', `/v1/data?deviceId=${DEV}&from=${FROM}&to=${TO}`)).status).toBe(200);

    // A restart must not bring the forgotten windows back from the outbox state.
    await edge!.close();
    edge = await startEdge(config, logger);
    await waitFor('edge reconnected', () => edge!.metrics().mqttConnected);

    // The device, now linked to someone else, reports again later: that is kept, and its
    // clock closes the old windows. Only the window before the erased range is emitted.
    await publish([{ topic: envTopic(DEV), payload: envTelemetry(DEV, 100, T0w + 15 * M) }]);
    await waitFor('window 0 emitted', async () => (await aggs()).length > 0);
    expect((await aggs()).map((a) => (a.ts - T0w) / M)).toEqual([0]);
    expect((await raw()).map((p) => p.seq)).toEqual([1, 2, 3, 4, 5, 6, 100]);
    expect((await call('GET', `/v1/latest?deviceId=${DEV}`)).body.devices[DEV].seq).toBe(100);
  });

  it('drops queued records of the range from the outbox, windows overlapping it for aggregates', () => {
    const ob = new Outbox(join(dir, 'outbox-unit.db'), 1000);
    const ref = { site: 's', kind: 'env-monitor' as const };
    const rd = (deviceId: string, seq: number, tsMs: number): StoreRecord => ({ type: 'reading', deviceId, ...ref, seq, tsMs, fields: { a: 1 }, text: {} });
    const ag = (windowStartMs: number): StoreRecord => ({ type: 'aggregate', deviceId: 'd', ...ref, windowStartMs, fields: {} });
    const ev: StoreRecord = { type: 'event', deviceId: 'd', ...ref, seq: 9, tsMs: 150_000, eventType: 't', severity: 'info', message: '', attributes: {} };
    ob.commit([rd('d', 1, 50_000), rd('d', 2, 100_000), rd('d', 3, 200_000), rd('other', 1, 100_000), ag(0), ag(60_000), ag(180_000), ev]);
    expect(ob.dropRange('d', 90_000, 180_000, 60_000)).toBe(3);
    const left = ob.peek(100)!.records;
    expect(left.map((r) => `${r.deviceId}:${r.type}:${r.type === 'aggregate' ? r.windowStartMs : r.tsMs}`))
      .toEqual(['d:reading:50000', 'd:reading:200000', 'other:reading:100000', 'd:aggregate:0', 'd:aggregate:180000']);
    expect(ob.depth).toBe(5);
    expect(ob.dropRange('d', 90_000, 180_000, 60_000)).toBe(0);
    ob.close();
  });
});
