// Pieces of the broker faults (chaos-broker.ts): `yulan broker` alone on fixed ports with a
// stand-in for the cloud's device-auth endpoint, and a windowed QoS 1 publisher that
// records exactly which messages the broker acknowledged.
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connectAsync, type MqttClient } from 'mqtt';
import { DeviceKind, KindSlug, deviceTopic } from '@yulan/protos';
import { loadOrCreateSecrets, writeBrokerAccounts } from '@yulan/cli';
import { freePort } from '@yulan/testkit';
import { startService, waitFor, type Service } from './procs.js';

/** Accepts every device as an env monitor of site `chaos` (the broker asks once per device). */
export async function fakeDeviceAuth(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const { deviceId } = JSON.parse(body || '{}') as { deviceId?: string };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, device: { id: deviceId, site: 'chaos', kind: KindSlug[DeviceKind.ENV_MONITOR] } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

export interface BrokerUnderTest {
  mqttUrl: string;
  httpUrl: string;
  brokerToken: string;
  edgePassword: string;
  service(): Service;
  start(): Promise<void>;
  /** SIGKILL of the broker process (the cluster primary's workers go with their IPC channel). */
  kill(): Promise<void>;
  stop(): Promise<void>;
  metrics(): Promise<Record<string, unknown>>;
}

export async function brokerUnderTest(dir: string, cloudUrl: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<BrokerUnderTest> {
  const { secrets } = loadOrCreateSecrets(dir);
  const accounts = await writeBrokerAccounts(dir, secrets);
  const [mqtt, ws] = [await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH, YULAN_MQTT_HOST: '127.0.0.1', YULAN_MQTT_PORT: String(mqtt), YULAN_WS_PORT: String(ws),
    YULAN_CLOUD_URL: cloudUrl, YULAN_BROKER_TOKEN: secrets.brokerToken, YULAN_BROKER_ACCOUNTS_FILE: accounts, YULAN_DATA_DIR: dir, ...extraEnv,
  };
  const httpUrl = `http://127.0.0.1:${ws}`;
  let svc: Service | undefined;
  const exited = (s: Service): Promise<void> =>
    new Promise((resolve) => (s.proc.exitCode !== null || s.proc.signalCode !== null ? resolve() : s.proc.once('exit', () => resolve())));
  return {
    mqttUrl: `mqtt://127.0.0.1:${mqtt}`, httpUrl, brokerToken: secrets.brokerToken, edgePassword: secrets.edgeMqttPassword,
    service: () => svc!,
    async start() {
      svc = startService('broker', ['broker'], env);
      const s = svc;
      await waitFor(async () => ((await (await fetch(`${httpUrl}/healthz`)).json()) as { status: string }).status === 'ok', 'broker health', 30_000, s);
    },
    async kill() {
      if (!svc) return;
      for (const pid of childPids(svc.proc.pid!)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      svc.proc.kill('SIGKILL');
      await exited(svc);
    },
    stop: async () => svc?.stop(),
    async metrics() {
      const res = await fetch(`${httpUrl}/metrics`, { headers: { authorization: `Bearer ${secrets.brokerToken}` } });
      return (await res.json()) as Record<string, unknown>;
    },
  };
}

/** Direct children of a process (cluster workers), from /proc. */
export function childPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
  } catch {
    return [];
  }
}

export const chaosTopic = (id: string): string => deviceTopic({ site: 'chaos', kind: DeviceKind.ENV_MONITOR, deviceId: id }, 'telemetry');

export async function device(url: string, id: string): Promise<MqttClient> {
  return connectAsync(url, { clientId: id, username: id, password: `secret-${id}`, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000 });
}

/** Publishes `id:seq:sentAtMs[:padding]` at QoS 1 with `window` in flight until stopped or the
 * connection drops; `acked` gets `id:seq` of every PUBACK. */
export function qos1Stream(client: MqttClient, id: string, acked: Set<string>, window = 8, onAck?: () => void, padBytes = 0): { stop(): void; sent(): number } {
  const pad = padBytes > 0 ? `:${'x'.repeat(padBytes)}` : '';
  let seq = 0;
  let inFlight = 0;
  let stopped = false;
  const pump = (): void => {
    while (!stopped && client.connected && inFlight < window) {
      const key = `${id}:${seq++}`;
      inFlight++;
      client.publish(chaosTopic(id), `${key}:${Date.now()}${pad}`, { qos: 1 }, (err) => {
        inFlight--;
        if (!err) { acked.add(key); onAck?.(); }
        pump();
      });
    }
  };
  pump();
  return { stop: () => { stopped = true; }, sent: () => seq };
}

/** `id:seq` of a stream payload. */
export const keyOf = (payload: Buffer): string => payload.toString().split(':').slice(0, 2).join(':');
