import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { Channel, channelFilter } from '@yulan/protos';
import type { Ack } from './ingest.js';

export interface MqttSourceOptions {
  url: string;
  clientId: string;
  username: string;
  password: string;
  /** PEM CA the broker's certificate must chain to (mqtts://) */
  ca?: Buffer;
}

export interface MqttSource {
  readonly connected: boolean;
  /** Drop the connection so the broker redelivers everything unacknowledged. */
  reconnect(): void;
  /** Stops handing out messages, runs `beforeEnd` (flush + acks) while still connected,
   * then ends the connection (DISCONNECT) without touching the persistent session. */
  close(beforeEnd?: () => void): Promise<void>;
}

export const SUBSCRIBED_CHANNELS = [Channel.Telemetry, Channel.Event, Channel.Presence, Channel.CommandResult] as const;

/** Thrown into MQTT.js's publish handler to make it skip its own PUBACK (we send it later). */
const DEFERRED = new Error('ack deferred until the outbox commit');

interface PacketSender {
  _sendPacket(packet: { cmd: 'puback'; messageId: number }, cb?: () => void): void;
}

/**
 * Subscribes as the edge service account with a persistent session (clean=false, fixed
 * client id, QoS 1) and hands every message to `onMessage` together with its ack.
 *
 * Why not `customHandleAcks`: MQTT.js honours it only for MQTT 5 and Aedes speaks 3.1.1.
 * Why not simply delaying `handleMessage`'s callback: MQTT.js processes incoming packets
 * strictly one at a time, so a held callback would serialise ingest at one commit per
 * message. Instead the callback receives an error, which makes MQTT.js move on to the
 * next packet WITHOUT sending the PUBACK; we send it ourselves once the outbox commit is
 * durable. Acks from an earlier connection are discarded: the broker redelivers those
 * messages on the new connection and dedupe recognises them.
 */
export function startMqttSource(
  o: MqttSourceOptions,
  logger: Logger,
  /** Returns true to let the event loop turn before the next message (an urgent alert was
   * committed and its uplink POST should start now). */
  onMessage: (topic: string, payload: Uint8Array, ack: Ack) => boolean | void,
  onConnectionChange: (connected: boolean) => void,
): MqttSource {
  let generation = 0;
  let accepting = true;
  const client: MqttClient = mqtt.connect(o.url, {
    clientId: o.clientId,
    username: o.username,
    password: o.password,
    clean: false,
    protocolVersion: 4,
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
    keepalive: 30,
    // Subscriptions live in the broker session; re-subscribing on connect below is enough.
    resubscribe: false,
    ...(o.ca !== undefined ? { ca: o.ca } : {}),
  });
  const noop = (): void => {};
  const sender = client as unknown as PacketSender;

  client.handleMessage = (packet: IPublishPacket, callback: (err?: Error) => void): void => {
    if (!accepting) {
      // Closing: leave the message unacknowledged so it is redelivered to the next session.
      callback(packet.qos === 1 ? DEFERRED : undefined);
      return;
    }
    const gen = generation;
    const id = packet.messageId;
    const ack: Ack = packet.qos === 1 && id !== undefined
      ? () => {
        if (gen === generation && client.connected) sender._sendPacket({ cmd: 'puback', messageId: id }, noop);
      }
      : noop;
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const yieldNow = onMessage(packet.topic, payload, ack);
    // MQTT.js handles the packets of a socket chunk one per nextTick, so promise work (the
    // alert uplink) waits for the whole chunk; pausing once per urgent alert lets it run.
    if (yieldNow === true) setImmediate(() => callback(packet.qos === 1 ? DEFERRED : undefined));
    else callback(packet.qos === 1 ? DEFERRED : undefined);
  };

  client.on('connect', (connack) => {
    generation++;
    onConnectionChange(true);
    logger.info({ sessionPresent: connack.sessionPresent }, 'mqtt connected');
    const filters = Object.fromEntries(SUBSCRIBED_CHANNELS.map((c) => [channelFilter(c), { qos: 1 as const }]));
    client.subscribe(filters, (err) => {
      if (err) logger.error({ err }, 'mqtt subscribe failed');
    });
  });
  client.on('close', () => {
    generation++;
    onConnectionChange(false);
  });
  client.on('error', (err) => {
    // Bad credentials and the like: MQTT.js keeps reconnecting; say why once per attempt.
    logger.warn({ err: { message: err.message, code: (err as { code?: unknown }).code } }, 'mqtt error');
  });

  return {
    get connected() {
      return client.connected;
    },
    reconnect() {
      client.stream?.destroy();
    },
    async close(beforeEnd) {
      accepting = false;
      beforeEnd?.();
      await client.endAsync(false);
    },
  };
}
