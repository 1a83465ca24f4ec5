import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { Channel, DeviceKind, Telemetry, deviceTopic } from '@yulan/protos';
import { waitFor as poll } from '@yulan/testkit';

export const EDGE_USER = 'edge';
export const EDGE_PASS = 'edge-test-password';

/** A plain Aedes broker on an ephemeral port: the edge account plus any device whose
 * password is "device-secret". (The real Yulan broker is another package.) */
export async function startBroker(): Promise<{ url: string; close(): Promise<void> }> {
  const broker = await Aedes.createBroker();
  broker.authenticate = (client, username, password, done) => {
    const pw = password?.toString();
    const ok = (username === EDGE_USER && pw === EDGE_PASS) || (username === client.id && pw === 'device-secret');
    done(null, ok);
  };
  const server: Server = createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    async close() {
      await new Promise<void>((r) => broker.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export async function connectDevice(url: string, deviceId: string): Promise<MqttClient> {
  return mqtt.connectAsync(url, { clientId: deviceId, username: deviceId, password: 'device-secret', protocolVersion: 4, reconnectPeriod: 0 });
}

export const SITE = 'site-1';

export function envTopic(deviceId: string, channel: (typeof Channel)[keyof typeof Channel] = Channel.Telemetry): string {
  return deviceTopic({ site: SITE, kind: DeviceKind.ENV_MONITOR, deviceId }, channel);
}

export function envTelemetry(deviceId: string, seq: number, tsMs: number): Uint8Array {
  return Telemetry.encode({
    header: { deviceId, kind: DeviceKind.ENV_MONITOR, seq, tsMs, firmwareVersion: '1.0.0' },
    envMonitor: { pm25Ugm3: seq % 50, temperatureC: 20 + (seq % 5), humidityPct: 40, noiseDba: 50 },
  });
}

/** Publishes QoS 1 messages, `inFlight` at a time. */
export async function publishAll(client: MqttClient, msgs: { topic: string; payload: Uint8Array }[], inFlight = 200): Promise<void> {
  for (let i = 0; i < msgs.length; i += inFlight) {
    await Promise.all(msgs.slice(i, i + inFlight).map((m) => client.publishAsync(m.topic, Buffer.from(m.payload), { qos: 1 })));
  }
}

/** Polls `cond` until true or the deadline passes (no fixed sleeps in tests). */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  await poll(cond, what, timeoutMs);
}
