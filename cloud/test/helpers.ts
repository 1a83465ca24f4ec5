import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import { pino } from 'pino';
import type { EdgeLatest } from '../src/edge-client.js';
import { waitFor as poll } from '@yulan/testkit';

export const silentLogger = pino({ level: process.env.YULAN_TEST_LOG ?? 'silent' });

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Polls until `check` returns a truthy value or the deadline passes (no fixed sleeps). */
export function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
  return poll(check, what, timeoutMs);
}

export interface TestBroker {
  url: string;
  /** every message the broker routed (observed broker-side, so no subscriber race) */
  published: { topic: string; payload: string; qos: number }[];
  close(): Promise<void>;
}

/** Plain aedes on an ephemeral port with a username → password table. */
export async function startBroker(users: Record<string, string>, port = 0): Promise<TestBroker> {
  const broker = await Aedes.createBroker({
    authenticate: (_client, username, password, done) => {
      const ok = username !== undefined && users[username] !== undefined && password?.toString() === users[username];
      done(null, ok);
    },
  });
  const published: TestBroker['published'] = [];
  broker.on('publish', (packet, client) => {
    if (client) published.push({ topic: packet.topic, payload: Buffer.from(packet.payload).toString('utf8'), qos: packet.qos });
  });
  const server = createNetServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `mqtt://127.0.0.1:${bound}`,
    published,
    close: async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface EdgeStub {
  url: string;
  token: string;
  latest: Record<string, EdgeLatest>;
  /** every authorised request: path + query */
  requests: { path: string; query: Record<string, string> }[];
  /** make /v1/telemetry answer this status with {message} */
  failTelemetry?: { status: number; message: string };
  /** every DELETE /v1/data that succeeded */
  erased: { deviceId: string; from: number; to: number }[];
  /** make DELETE /v1/data answer this status with {message} */
  failErase?: { status: number; message: string };
  /** presence records per device for /v1/presence (answered by range, with the one before) */
  presence?: Record<string, { ts: number; online: boolean; reason: string; firmware: string }[]>;
  /** what /v1/faulted answers (devices whose newest reading is a fault) */
  faulted?: { deviceId: string; site: string; kind: string; ts: number; reason: string }[];
  close(): Promise<void>;
}

/** A node:http stand-in for the edge query API (docs/architecture.md, "Edge HTTP API"). */
export async function startEdgeStub(token = 'edge-token-for-tests'): Promise<EdgeStub> {
  const stub: EdgeStub = { url: '', token, latest: {}, requests: [], erased: [], close: async () => undefined };
  const send = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const server = createHttpServer((req: IncomingMessage, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname === '/healthz') return send(res, 200, { status: 'ok', store: 'sqlite', outbox: 0 });
    if (req.headers.authorization !== `Bearer ${token}`) return send(res, 401, { message: 'unauthorized' });
    const query = Object.fromEntries(u.searchParams);
    stub.requests.push({ path: u.pathname, query });
    const deviceId = query.deviceId ?? '';
    switch (u.pathname) {
      case '/v1/latest': {
        const wanted = deviceId ? deviceId.split(',') : Object.keys(stub.latest);
        return send(res, 200, { devices: Object.fromEntries(wanted.filter((id) => stub.latest[id]).map((id) => [id, stub.latest[id]])) });
      }
      case '/v1/telemetry':
        if (stub.failTelemetry) return send(res, stub.failTelemetry.status, { message: stub.failTelemetry.message });
        return send(res, 200, {
          deviceId,
          resolution: query.resolution ?? 'raw',
          points: [{ ts: Number(query.from ?? 0) + 1000, seq: 1, fields: { power_w: 7200 } }],
        });
      case '/v1/data':
        if (req.method !== 'DELETE') return send(res, 404, { message: 'not found' });
        if (stub.failErase) return send(res, stub.failErase.status, { message: stub.failErase.message });
        stub.erased.push({ deviceId, from: Number(query.from), to: Number(query.to) });
        return send(res, 200, { deviceId, from: Number(query.from), to: Number(query.to), outboxDropped: 0 });
      case '/v1/faulted':
        return send(res, 200, { devices: stub.faulted ?? [] });
      case '/v1/presence': {
        const all = [...(stub.presence?.[deviceId] ?? [])].sort((a, b) => a.ts - b.ts);
        const from = Number(query.from ?? 0);
        const to = Number(query.to ?? Date.now());
        return send(res, 200, { deviceId, before: all.filter((x) => x.ts < from).at(-1) ?? null, points: all.filter((x) => x.ts >= from && x.ts < to) });
      }
      case '/v1/events':
        return send(res, 200, {
          events: [{ ts: 1, seq: 1, deviceId, type: 'fall', severity: 3, message: 'fall detected', attributes: { room: 'bedroom' } }],
        });
      default:
        return send(res, 404, { message: 'not found' });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stub.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  stub.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return stub;
}

/** A URL on which nothing listens (bound then released). */
export async function deadUrl(): Promise<string> {
  const s = createNetServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** The cloud's environment for tests wired to a test broker and edge stub. */
export function cloudEnv(dataDir: string, broker: TestBroker, edge: EdgeStub, cloudPassword: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    YULAN_DATA_DIR: dataDir,
    YULAN_HTTP_HOST: '127.0.0.1',
    YULAN_HTTP_PORT: '0',
    YULAN_MQTT_URL: broker.url,
    YULAN_CLOUD_MQTT_PASSWORD: cloudPassword,
    YULAN_BROKER_TOKEN: 'broker-token',
    YULAN_EDGE_URL: edge.url,
    YULAN_EDGE_TOKEN: edge.token,
    ...extra,
  };
}
