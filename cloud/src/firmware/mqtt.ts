import type { MqttClient } from 'mqtt';
import type { MqttTransport } from '../mqtt-link.js';

/** The slice of MQTT the campaign runner needs. In the cloud it is the shared link
 * (mqtt-link.ts, `fromTransport`); any mqtt.js client works too (`fromClient`). */
export interface FirmwareMqtt {
  /** QoS 1; resolves on PUBACK */
  publish(topic: string, payload: Uint8Array): Promise<void>;
  /** exact device topics, kept across reconnects; idempotent, so the runner re-asserts them */
  subscribe(topics: readonly string[]): Promise<void>;
  /** every message of the session (presence included); returns a function that stops it */
  onMessage(handler: (topic: string, payload: Uint8Array) => void): () => void;
}

export function fromTransport(t: MqttTransport): FirmwareMqtt {
  return {
    publish: (topic, payload) => t.publish(topic, payload, { qos: 1 }),
    async subscribe(topics) {
      for (const topic of topics) t.subscribe(topic, 1, 'firmware');
    },
    onMessage(handler) {
      // The link has no way to remove a handler; a flag does it.
      let on = true;
      t.onMessage((topic, payload) => {
        if (on) handler(topic, payload);
      });
      return () => void (on = false);
    },
  };
}

export function fromClient(client: MqttClient): FirmwareMqtt {
  const wanted = new Set<string>();
  // Clean sessions forget subscriptions on reconnect: make them again.
  client.on('connect', () => {
    if (wanted.size > 0) client.subscribe([...wanted], { qos: 1 });
  });
  return {
    async publish(topic, payload) {
      await client.publishAsync(topic, Buffer.from(payload), { qos: 1 });
    },
    async subscribe(topics) {
      const fresh = topics.filter((t) => !wanted.has(t));
      for (const t of fresh) wanted.add(t);
      if (fresh.length > 0 && client.connected) await client.subscribeAsync(fresh, { qos: 1 });
    },
    onMessage(handler) {
      const h = (topic: string, payload: Buffer): void => handler(topic, payload);
      client.on('message', h);
      return () => void client.off('message', h);
    },
  };
}
