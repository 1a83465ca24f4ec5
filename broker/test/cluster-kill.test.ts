import fs from 'node:fs';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceKind, deviceTopic } from '@yulan/protos';
import { launchRedis, shouldSkipRedis, type RedisServer } from '@yulan/testkit';
import { BROKER_TOKEN, EDGE_PASSWORD, mqttClient, tempDir, waitFor } from './helpers.js';
import { brokerProcess, childPids, fakeCloud, type BrokerProcess } from './broker-process.js';

// `yulan broker` as real processes, 2 workers sharing Redis (append-only, fsync always).
const DEVICES = ['env-k0', 'env-k1', 'env-k2', 'env-k3'];
const topicOf = (id: string): string => deviceTopic({ site: 'site-1', kind: DeviceKind.ENV_MONITOR, deviceId: id }, 'telemetry');

/** Publishes `id:seq` at QoS 1, `window` in flight, until stopped or the connection drops;
 * records what the broker acknowledged. */
function stream(client: MqttClient, id: string, acked: Set<string>, window = 8): { stop(): void } {
  let seq = 0;
  let inFlight = 0;
  let stopped = false;
  const pump = (): void => {
    while (!stopped && client.connected && inFlight < window) {
      const msg = `${id}:${seq++}`;
      inFlight++;
      client.publish(topicOf(id), msg, { qos: 1 }, (err) => {
        inFlight--;
        if (!err) acked.add(msg);
        pump();
      });
    }
  };
  pump();
  return { stop: () => { stopped = true; } };
}

describe.skipIf(shouldSkipRedis())('clustered broker process: crash and restart', () => {
  const dir = tempDir('kill');
  let redis: RedisServer;
  let cloud: Awaited<ReturnType<typeof fakeCloud>>;
  let broker: BrokerProcess;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    redis = await launchRedis({ appendonly: true, appendfsync: 'always' });
    cloud = await fakeCloud();
    broker = await brokerProcess(dir, { YULAN_CLOUD_URL: cloud.url, YULAN_BROKER_REDIS_URL: redis.url, YULAN_BROKER_WORKERS: '2' });
    await broker.start();
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await broker?.stop();
    await cloud?.close();
    await redis?.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers /healthz and /metrics for all workers', async () => {
    const health = (await (await fetch(`${broker.httpUrl}/healthz`)).json()) as { status: string; workers: { expected: number; ok: number } };
    expect(health).toMatchObject({ status: 'ok', workers: { expected: 2, ok: 2 } });
    const res = await fetch(`${broker.httpUrl}/metrics`, { headers: { authorization: `Bearer ${BROKER_TOKEN}` } });
    expect(await res.json()).toMatchObject({ workers: { expected: 2, reporting: 2 }, connections: { current: 0 } });
  });

  it('every message acknowledged before a SIGKILL reaches the persistent subscriber after restart', async () => {
    const received = new Set<string>();
    let duplicates = 0;
    const edge = await mqttClient(broker.mqttUrl, { clientId: 'edge:durable', username: 'edge', password: EDGE_PASSWORD, clean: false, reconnectPeriod: 300 });
    clients.push(edge);
    edge.on('message', (_t, payload) => {
      const m = payload.toString();
      if (received.has(m)) duplicates++;
      received.add(m);
    });
    await edge.subscribeAsync('yulan/v1/+/+/+/telemetry', { qos: 1 });

    const acked = new Set<string>();
    const publishers = await Promise.all(DEVICES.map((id) => mqttClient(broker.mqttUrl, { clientId: id, username: id, password: `secret-${id}` })));
    clients.push(...publishers);
    const streams = publishers.map((c, i) => stream(c, DEVICES[i]!, acked));
    await waitFor(() => acked.size >= 600, '600 acknowledged', 30_000);
    await broker.kill();
    for (const s of streams) s.stop();
    const ackedAtKill = acked.size;

    await broker.start();
    await waitFor(() => [...acked].every((m) => received.has(m)), 'every acknowledged message at the subscriber', 40_000).catch(() => undefined);
    const lost = [...acked].filter((m) => !received.has(m));
    expect({ lost: lost.length, sample: lost.slice(0, 5) }).toEqual({ lost: 0, sample: [] });
    expect(ackedAtKill).toBeGreaterThanOrEqual(600);
    expect(duplicates).toBeGreaterThanOrEqual(0); // allowed at QoS 1; reported by npm run chaos
  }, 120_000);

  it('restarts a worker that dies; the other keeps serving', async () => {
    const before = childPids(broker.pid());
    expect(before).toHaveLength(2);
    process.kill(before[0]!, 'SIGKILL');
    await waitFor(() => {
      const now = childPids(broker.pid());
      return now.length === 2 && !now.includes(before[0]!);
    }, 'replacement worker', 30_000);
    let health: { status: string } | undefined;
    for (let i = 0; i < 100 && health?.status !== 'ok'; i++) {
      health = (await (await fetch(`${broker.httpUrl}/healthz`)).json()) as { status: string };
      if (health.status !== 'ok') await new Promise((r) => setTimeout(r, 200));
    }
    expect(health?.status).toBe('ok');
  });
});
