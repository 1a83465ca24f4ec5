import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Channel, DeviceKind, Event, Presence } from '@yulan/protos';
import { loadEdgeConfig, startEdge, type EdgeConfig, type EdgeHandle } from '../src/index.js';
import {
  EDGE_PASS, connectDevice, envTelemetry, envTopic, publishAll, startBroker, waitFor,
} from './support/harness.js';

const TOKEN = 'integration-test-token-0123456789';
const logger = pino({ level: 'silent' });

describe('edge agent end to end (aedes + MQTT + SQLite + HTTP)', () => {
  let broker: Awaited<ReturnType<typeof startBroker>>;
  let dir: string;
  let config: EdgeConfig;
  let edge: EdgeHandle | undefined;
  // Device time well in the past so the 1-minute windows close on the edge clock.
  const T0 = Date.now() - 5 * 60_000;
  const T0w = T0 - (T0 % 60_000);
  const ts = (seq: number) => T0w + seq * 100;

  const get = async (path: string, token: string | null = TOKEN) => {
    const res = await fetch(`http://127.0.0.1:${edge!.httpPort}${path}`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const rawSeqs = async (deviceId: string) => {
    const r = await get(`/v1/telemetry?deviceId=${deviceId}&from=${T0w}&to=${T0w + 3_600_000}&limit=10000`);
    return (r.body.points as { seq: number }[]).map((p) => p.seq);
  };

  beforeAll(async () => {
    broker = await startBroker();
    dir = mkdtempSync(join(tmpdir(), 'yulan-edge-it-'));
    config = {
      ...loadEdgeConfig({
        YULAN_DATA_DIR: dir, YULAN_MQTT_URL: broker.url, YULAN_EDGE_MQTT_PASSWORD: EDGE_PASS,
        YULAN_EDGE_TOKEN: TOKEN, YULAN_EDGE_HTTP_PORT: '0', YULAN_EDGE_CLIENT_ID: 'edge-it',
      }),
      windowGraceMs: 1000,
    };
    edge = await startEdge(config, logger);
    await waitFor('edge connected', () => edge!.metrics().mqttConnected);
  });
  afterAll(async () => {
    await edge?.close();
    await broker?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ingests telemetry, counts garbage without stopping, and serves it over HTTP', async () => {
    const dev = await connectDevice(broker.url, 'env-a');
    const msgs: { topic: string; payload: Uint8Array }[] = [];
    for (let seq = 1; seq <= 600; seq++) {
      msgs.push({ topic: envTopic('env-a'), payload: envTelemetry('env-a', seq, ts(seq)) });
      if (seq % 100 === 0) msgs.push({ topic: envTopic('env-a'), payload: new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0xff]) });
    }
    // Someone else's envelope on env-a's topic, a duplicate, and an event.
    msgs.push({ topic: envTopic('env-a'), payload: envTelemetry('env-b', 1, ts(1)) });
    msgs.push({ topic: envTopic('env-a'), payload: envTelemetry('env-a', 5, ts(5)) });
    msgs.push({
      topic: envTopic('env-a', Channel.Event),
      payload: Event.encode({
        header: { deviceId: 'env-a', kind: DeviceKind.ENV_MONITOR, seq: 601, tsMs: ts(601) },
        type: 'env.pm_high', severity: 2, message: 'PM2.5 above limit', attributes: { limit: '25' },
      }),
    });
    await publishAll(dev, msgs);
    await dev.endAsync();

    await waitFor('all written', () => {
      const m = edge!.metrics();
      return m.received === msgs.length && m.outboxDepth === 0 && m.written >= 601;
    });
    const m = edge!.metrics();
    expect(m.deadLetters).toEqual({ decode: 6, 'device-mismatch': 1 });
    expect(m.duplicates).toBe(1);
    expect(m.storeUp).toBe(true);

    expect(await rawSeqs('env-a')).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
    const one = await get(`/v1/telemetry?deviceId=env-a&from=${new Date(ts(10)).toISOString()}&to=${ts(11)}&fields=pm25_ugm3`);
    expect(one.body).toEqual({ deviceId: 'env-a', resolution: 'raw', points: [{ ts: ts(10), seq: 10, fields: { pm25_ugm3: 10 } }] });

    const latest = await get('/v1/latest?deviceId=env-a,unknown');
    expect(Object.keys(latest.body.devices)).toEqual(['env-a']);
    expect(latest.body.devices['env-a']).toMatchObject({ seq: 600, ts: ts(600), site: 'site-1', kind: 'env-monitor' });

    const events = await get(`/v1/events?deviceId=env-a&from=${T0w}&to=${T0w + 3_600_000}`);
    expect(events.body.events).toEqual([{
      ts: ts(601), seq: 601, deviceId: 'env-a', type: 'env.pm_high', severity: 'warning', message: 'PM2.5 above limit', attributes: { limit: '25' },
    }]);

    // 600 readings at 100 ms spacing → windows of 600 and 0.. readings; counts must add up.
    await waitFor('aggregates', async () => {
      const r = await get(`/v1/telemetry?deviceId=env-a&resolution=1m&from=${T0w}&to=${T0w + 3_600_000}&fields=pm25_ugm3`);
      const total = (r.body.points as { fields: { pm25_ugm3: { count: number } } }[]).reduce((s, p) => s + p.fields.pm25_ugm3.count, 0);
      return total === 600;
    });
    const agg = await get(`/v1/telemetry?deviceId=env-a&resolution=1m&from=${T0w}&to=${T0w + 60_000}&fields=pm25_ugm3`);
    expect(agg.body.points[0].fields.pm25_ugm3).toMatchObject({ count: 599, min: 0, max: 49, last: 599 % 50 });
  });

  it('serves a device\'s presence history with the record before the range (console timeline)', async () => {
    const dev = await connectDevice(broker.url, 'env-p');
    const pres = (tsMs: number, online: boolean, firmwareVersion: string) => ({
      topic: envTopic('env-p', Channel.Presence),
      payload: Presence.encode({ deviceId: 'env-p', kind: DeviceKind.ENV_MONITOR, online, tsMs, firmwareVersion, reason: online ? 'birth' : 'will' }),
    });
    await publishAll(dev, [pres(ts(1), true, '1.0.0'), pres(ts(2), false, ''), pres(ts(3), true, '1.1.0')]);
    await dev.endAsync();
    const path = `/v1/presence?deviceId=env-p&from=${ts(2)}&to=${ts(10)}`;
    await waitFor('presence stored', async () => (await get(path)).body.points?.length === 2);
    const r = await get(path);
    expect(r.body.before).toEqual({ ts: ts(1), online: true, reason: 'birth', firmware: '1.0.0' });
    expect(r.body.points.map((p: { online: boolean; firmware: string }) => [p.online, p.firmware])).toEqual([[false, ''], [true, '1.1.0']]);
    expect((await get('/v1/presence?deviceId=env-p&limit=0')).status).toBe(400);
  });

  it('enforces the bearer token and rejects bad parameters with clear 400s', async () => {
    expect((await get('/healthz', null)).body).toEqual({ status: 'ok', store: 'sqlite', outbox: expect.any(Number) });
    expect((await get('/metrics', null)).status).toBe(401);
    expect((await get('/metrics', 'wrong-token')).status).toBe(401);
    expect((await get('/metrics')).body).toMatchObject({ received: expect.any(Number), deadLetters: expect.any(Object) });
    const bad = [
      '/v1/telemetry', // deviceId missing
      '/v1/telemetry?deviceId=env-a&from=yesterday',
      '/v1/telemetry?deviceId=env-a&resolution=5m',
      '/v1/telemetry?deviceId=bad/id',
      '/v1/telemetry?deviceId=env-a&from=2000&to=1000',
      '/v1/events?deviceId=env-a&limit=0',
    ];
    for (const path of bad) {
      const r = await get(path);
      expect(r.status, path).toBe(400);
      expect(r.body.error, path).toBe('bad-request');
    }
  });

  it('restarts without duplicating or losing: messages sent while down arrive once', async () => {
    await edge!.close();
    edge = undefined;
    const dev = await connectDevice(broker.url, 'env-c');
    const first = Array.from({ length: 300 }, (_, i) => i + 1);
    // Sent while the edge is down: queued in its persistent broker session.
    await publishAll(dev, first.map((s) => ({ topic: envTopic('env-c'), payload: envTelemetry('env-c', s, ts(s)) })));
    edge = await startEdge(config, logger);
    await waitFor('backlog', async () => (await rawSeqs('env-c')).length === 300 && edge!.metrics().outboxDepth === 0);
    // Replays of already-stored seqs (a device retrying after a lost PUBACK) plus new ones.
    const again = [...first.slice(250), ...Array.from({ length: 100 }, (_, i) => 301 + i)];
    await edge!.close();
    edge = await startEdge(config, logger);
    await publishAll(dev, again.map((s) => ({ topic: envTopic('env-c'), payload: envTelemetry('env-c', s, ts(s)) })));
    await dev.endAsync();
    // Wait for the store to hold the new seqs (received ≠ committed: acks wait for the outbox).
    await waitFor('replays processed', async () =>
      edge!.metrics().received >= again.length && (await rawSeqs('env-c')).length >= 400);
    expect(edge!.metrics().duplicates).toBe(50);
    expect(await rawSeqs('env-c')).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
    // The latest cache was seeded from the store at start.
    expect((await get('/v1/latest?deviceId=env-a')).body.devices['env-a']).toMatchObject({ seq: 600 });
  });
});
