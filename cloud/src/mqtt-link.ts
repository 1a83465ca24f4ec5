import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import mqtt, { type MqttClient } from 'mqtt';
import { Channel, ControlTopic, channelFilter } from '@yulan/protos';
import { CloudError, CloudErrorCode } from './errors.js';

/** What the HTTP side needs from MQTT: publishing control messages and a health bit. */
export interface ControlPublisher {
  connected(): boolean;
  /** Publishes `$yulan/v1/control/revoke` (QoS 1) and resolves on PUBACK. */
  publishRevoke(deviceId: string): Promise<void>;
}

export interface MqttLinkOptions {
  url: string;
  username: string;
  password: string;
  logger: Logger;
  /** called for every message on the subscribed presence filter */
  onPresence: (topic: string, payload: Uint8Array) => void;
  /** Device ids to revoke again on every (re)connect: see below. */
  disabledDevices?: () => Promise<string[]>;
  publishTimeoutMs?: number;
}

export interface MqttLink extends ControlPublisher {
  readonly client: MqttClient;
  close(): Promise<void>;
}

/**
 * The cloud's MQTT session as service account `cloud`. It does not block start-up on the
 * broker: mqtt.js reconnects in the background, QoS 1 publishes queue while offline, and
 * the presence subscription is (re)made on every connect. Presence is retained, so a
 * fresh subscription replays every device's current state.
 */
export function createMqttLink(opts: MqttLinkOptions): MqttLink {
  const log = opts.logger;
  const publishTimeout = opts.publishTimeoutMs ?? 5000;
  const client = mqtt.connect(opts.url, {
    username: opts.username,
    password: opts.password,
    // Unique per process so a restarting cloud never kicks its predecessor's session loop.
    clientId: `${opts.username}:${randomBytes(6).toString('hex')}`,
    clean: true,
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
  });
  const filter = channelFilter(Channel.Presence);
  client.on('connect', () => {
    log.info({ url: opts.url }, 'mqtt connected');
    client.subscribe(filter, { qos: 1 }, (err, granted) => {
      if (err) log.error({ err, filter }, 'presence subscribe failed');
      else if (granted?.some((g) => g.qos === 128)) log.error({ filter }, 'presence subscribe refused by broker');
    });
    // A revoke published while the broker was away, or lost with a restarting cloud, would
    // leave a disabled device's live session up. Revocation is idempotent at the broker,
    // so every (re)connect re-sends it for every disabled device.
    opts.disabledDevices?.().then(
      (ids) => {
        for (const id of ids) client.publish(ControlTopic.Revoke, Buffer.from(id, 'utf8'), { qos: 1 });
        if (ids.length > 0) log.info({ devices: ids.length }, 'revocations re-sent');
      },
      (err: unknown) => log.error({ err }, 'cannot list disabled devices to re-send revocations'),
    );
  });
  client.on('message', (topic, payload) => {
    try {
      opts.onPresence(topic, payload);
    } catch (err) {
      log.error({ err, topic }, 'presence handler threw');
    }
  });
  client.on('error', (err) => log.warn({ err: { message: err.message, code: (err as { code?: unknown }).code } }, 'mqtt error'));
  client.on('offline', () => log.warn('mqtt offline; reconnecting'));

  return {
    client,
    connected: () => client.connected,
    async publishRevoke(deviceId) {
      if (!client.connected) {
        // Queue it (mqtt.js sends queued QoS 1 publishes on reconnect) but do not hold
        // the HTTP request hostage to a broker that is down.
        client.publish(ControlTopic.Revoke, Buffer.from(deviceId, 'utf8'), { qos: 1 }, (err) => {
          if (err) log.warn({ err: { message: err.message }, deviceId }, 'queued revoke failed');
        });
        throw new CloudError(CloudErrorCode.Mqtt, `broker not connected; revoke for "${deviceId}" queued`);
      }
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new CloudError(CloudErrorCode.Mqtt, `revoke for "${deviceId}" not acknowledged within ${publishTimeout} ms`)),
          publishTimeout,
        );
      });
      try {
        await Promise.race([client.publishAsync(ControlTopic.Revoke, Buffer.from(deviceId, 'utf8'), { qos: 1 }), timeout]);
      } catch (err) {
        if (err instanceof CloudError) throw err;
        throw new CloudError(CloudErrorCode.Mqtt, `revoke for "${deviceId}" failed`, { cause: err });
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      // Graceful (flush in-flight QoS 1) only when connected; otherwise end would wait on a dead socket.
      await client.endAsync(!client.connected).catch((err: unknown) => log.warn({ err }, 'mqtt close failed'));
    },
  };
}
