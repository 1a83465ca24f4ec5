import { createServer, type AddressInfo, type Server } from 'node:net';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';

export const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

export interface TestBroker {
  url: string;
  broker: Aedes;
  close(): Promise<void>;
}

/** Plain Aedes on an ephemeral port; `accept` decides CONNECTs (the real broker asks the cloud). */
export async function startBroker(accept: (username: string, password: string) => boolean): Promise<TestBroker> {
  const broker = await Aedes.createBroker();
  broker.authenticate = (_client, username, password, done) => {
    done(null, accept(username ?? '', password?.toString() ?? ''));
  };
  const server: Server = createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    broker,
    close: () => new Promise<void>((resolve) => {
      broker.close(() => server.close(() => resolve()));
    }),
  };
}

export async function subscriber(url: string, topics: string[]): Promise<{ client: MqttClient; messages: { topic: string; payload: Buffer; retain: boolean }[] }> {
  const client = await mqtt.connectAsync(url, { clientId: `test-sub-${Math.random().toString(16).slice(2)}`, username: 'test', password: 'test', reconnectPeriod: 0 });
  const messages: { topic: string; payload: Buffer; retain: boolean }[] = [];
  client.on('message', (topic, payload, packet) => messages.push({ topic, payload, retain: packet.retain }));
  await client.subscribeAsync(topics, { qos: 1 });
  return { client, messages };
}

/** Polls until `check` returns a value (not undefined/false) or the deadline passes. */
export async function until<T>(check: () => T | undefined | false, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
