import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
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
  /** PEM CA the broker's certificate must chain to, for mqtts:// (YULAN_TLS_CA_FILE) */
  caFile?: string;
}

/**
 * Cuts a device's live session after the registry changed (disable, secret rotation). The
 * registry already refuses the old credential; if the broker does not ack in time the
 * publish stays queued in the MQTT client, so the answer is "pending", not a failure.
 */
export async function revokeLiveSession(control: ControlPublisher, deviceId: string, log: Pick<Logger, 'warn'>, why: string): Promise<'published' | 'pending'> {
  try {
    await control.publishRevoke(deviceId);
    return 'published';
  } catch (err) {
    log.warn({ err, deviceId }, `revoke after ${why} not acknowledged by the broker`);
    return 'pending';
  }
}

/** Generic MQTT access for the control module (twins, commands): subscriptions survive
 * reconnects (clean sessions lose them), handlers see every non-presence message too. */
export interface MqttTransport {
  connected(): boolean;
  /** Resolves on PUBACK (QoS 1) or once written (QoS 0); rejects with CloudError(E_MQTT). */
  publish(topic: string, payload: Uint8Array, opts: { qos: 0 | 1; retain?: boolean }): Promise<void>;
  /** Subscribes now (if connected) and again on every reconnect, until unsubscribed.
   * Held per `owner` (idempotent per owner): the broker subscription stays while any
   * owner holds the filter, so one module letting go never cuts another's messages. */
  subscribe(filter: string, qos: 0 | 1, owner?: string): void;
  unsubscribe(filter: string, owner?: string): void;
  /** Called for every message (presence included), after the presence handler. */
  onMessage(handler: (topic: string, payload: Uint8Array) => void): void;
  /** Called on every (re)connect, after the subscriptions were re-sent. */
  onConnect(handler: () => void): void;
}

export interface MqttLink extends ControlPublisher, MqttTransport {
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
    ...(opts.caFile !== undefined ? { ca: readFileSync(opts.caFile) } : {}),
  });
  const filter = channelFilter(Channel.Presence);
  // filter → owner → QoS; the broker sees the highest QoS any owner asked for.
  const extraSubs = new Map<string, Map<string, 0 | 1>>();
  const qosOf = (owners: Map<string, 0 | 1>): 0 | 1 => ([...owners.values()].includes(1) ? 1 : 0);
  const messageHandlers: ((topic: string, payload: Uint8Array) => void)[] = [];
  const connectHandlers: (() => void)[] = [];
  const subscribeOne = (f: string, qos: 0 | 1): void => {
    client.subscribe(f, { qos }, (err, granted) => {
      if (err) log.error({ err, filter: f }, 'subscribe failed');
      else if (granted?.some((g) => g.qos === 128)) log.error({ filter: f }, 'subscribe refused by broker');
    });
  };
  client.on('connect', () => {
    log.info({ url: opts.url }, 'mqtt connected');
    subscribeOne(filter, 1);
    for (const [f, owners] of extraSubs) subscribeOne(f, qosOf(owners));
    for (const h of connectHandlers) {
      try { h(); } catch (err) { log.error({ err }, 'connect handler threw'); }
    }
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
    if (topic.endsWith('/presence')) {
      try {
        opts.onPresence(topic, payload);
      } catch (err) {
        log.error({ err, topic }, 'presence handler threw');
      }
    }
    for (const h of messageHandlers) {
      try { h(topic, payload); } catch (err) { log.error({ err, topic }, 'message handler threw'); }
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
    async publish(topic, payload, { qos, retain = false }) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new CloudError(CloudErrorCode.Mqtt, `publish to ${topic} not acknowledged within ${publishTimeout} ms`)), publishTimeout);
      });
      try {
        await Promise.race([client.publishAsync(topic, Buffer.from(payload), { qos, retain }), timeout]);
      } catch (err) {
        if (err instanceof CloudError) throw err;
        throw new CloudError(CloudErrorCode.Mqtt, `publish to ${topic} failed`, { cause: err });
      } finally {
        clearTimeout(timer);
      }
    },
    subscribe(f, qos, owner = 'default') {
      let owners = extraSubs.get(f);
      if (!owners) extraSubs.set(f, (owners = new Map()));
      const before = owners.size > 0 ? qosOf(owners) : undefined;
      owners.set(owner, Math.max(owners.get(owner) ?? 0, qos) as 0 | 1);
      const after = qosOf(owners);
      if (before !== after && client.connected) subscribeOne(f, after);
    },
    unsubscribe(f, owner = 'default') {
      const owners = extraSubs.get(f);
      if (!owners?.delete(owner)) return;
      if (owners.size > 0) return;
      extraSubs.delete(f);
      if (client.connected) client.unsubscribe(f, (err) => { if (err) log.warn({ err: { message: err.message }, filter: f }, 'unsubscribe failed'); });
    },
    onMessage(handler) { messageHandlers.push(handler); },
    onConnect(handler) { connectHandlers.push(handler); },
    async close() {
      // Graceful (flush in-flight QoS 1) only when connected; otherwise end would wait on a dead socket.
      await client.endAsync(!client.connected).catch((err: unknown) => log.warn({ err }, 'mqtt close failed'));
    },
  };
}
