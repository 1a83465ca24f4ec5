import mqtt, { type MqttClient } from 'mqtt';
import {
  Channel, Command, CommandResult, CommandStatus, DeviceKind, Event, Presence, Severity, Telemetry, TwinDesired, TwinReported,
  deviceTopic, type DeviceAddress, type DeviceSettings, type Envelope, type EvChargerTelemetry,
} from '@yulan/protos';
import type { Logger } from 'pino';
import type { Outbox } from './outbox.js';

export interface ChargerLinkOptions {
  mqttUrl: string;
  /** PEM CA for an mqtts:// broker */
  ca?: Buffer;
  deviceId: string;
  site: string;
  secret: string;
  outbox: Outbox;
  logger: Logger;
  onCommand(cmd: Command): void;
  onTwin(desired: TwinDesired): void;
  /** The broker refused the charger's credentials (revoked or disabled): cut it off. */
  onRefused(reason: string): void;
}

/** MQTT refusals (3.1.1) that mean the device may no longer connect. */
const REFUSED = new Set([4, 5]);

/**
 * How the gateway speaks for one charger on the broker: an MQTT session of that device,
 * with the credentials the charger itself presented (client id = username = charge point
 * id, password = its AuthorizationKey). The broker therefore applies the device's own
 * ACL, presence and revocation to it; the gateway holds no right of its own to publish
 * for any device (docs/ocpp.md, "How the gateway speaks for its chargers").
 */
export class ChargerLink {
  readonly addr: DeviceAddress;
  firmwareVersion = '';
  readonly #o: ChargerLinkOptions;
  readonly #client: MqttClient;
  #draining = false;
  #closed = false;
  readonly #seenCommands = new Set<string>();

  constructor(o: ChargerLinkOptions) {
    this.#o = o;
    this.addr = { site: o.site, kind: DeviceKind.EV_CHARGER, deviceId: o.deviceId };
    const will = Presence.encode({ deviceId: o.deviceId, kind: DeviceKind.EV_CHARGER, online: false, tsMs: Date.now(), reason: 'will' });
    this.#client = mqtt.connect(o.mqttUrl, {
      clientId: o.deviceId, username: o.deviceId, password: o.secret, protocolVersion: 4, clean: true,
      ...(o.ca ? { ca: o.ca } : {}),
      // MQTT.js stops reconnecting after a refused CONNACK unless told otherwise; a
      // "server unavailable" (cloud slow, broker start-up hold) must not strand the charger
      // in Pending. Refusals of the credentials end the link instead (onRefused → close).
      reconnectPeriod: 2000, reconnectOnConnackError: true, connectTimeout: 10_000, keepalive: 60, queueQoSZero: false,
      will: { topic: deviceTopic(this.addr, Channel.Presence), payload: Buffer.from(will), qos: 1, retain: true },
    });
    this.#client.on('connect', () => {
      this.#client.subscribe([deviceTopic(this.addr, Channel.Command), deviceTopic(this.addr, Channel.TwinDesired)], { qos: 1 }, (err) => {
        if (err) o.logger.warn({ err, deviceId: o.deviceId }, 'subscribe failed');
      });
      void this.drain();
    });
    this.#client.on('error', (err) => {
      const rc = (err as { code?: unknown }).code;
      if (typeof rc === 'number' && REFUSED.has(rc)) {
        o.logger.info({ deviceId: o.deviceId, rc }, 'broker refused the charger: cutting it off');
        o.onRefused(rc === 5 ? 'not authorized (disabled)' : 'bad credentials');
        return;
      }
      o.logger.debug({ err, deviceId: o.deviceId }, 'mqtt error');
    });
    this.#client.on('message', (topic, payload) => this.#message(topic, payload));
  }

  get connected(): boolean {
    return this.#client.connected;
  }

  /** Resolves true once the session is up, false after `timeoutMs` or on close. */
  async ready(timeoutMs: number): Promise<boolean> {
    if (this.#client.connected) return true;
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(t);
        this.#client.off('connect', onConnect).off('end', onEnd);
        resolve(ok);
      };
      const onConnect = (): void => done(true);
      const onEnd = (): void => done(false);
      const t = setTimeout(() => done(false), timeoutMs);
      this.#client.on('connect', onConnect).on('end', onEnd);
    });
  }

  #message(topic: string, payload: Buffer): void {
    try {
      if (topic.endsWith(`/${Channel.Command}`)) {
        const cmd = Command.decode(payload);
        // The cloud re-sends until acknowledged; a command id is executed at most once.
        if (this.#seenCommands.has(cmd.commandId)) return;
        this.#seenCommands.add(cmd.commandId);
        if (this.#seenCommands.size > 1000) this.#seenCommands.delete(this.#seenCommands.values().next().value!);
        this.#o.onCommand(cmd);
      } else if (topic.endsWith(`/${Channel.TwinDesired}`)) {
        this.#o.onTwin(TwinDesired.decode(payload));
      }
    } catch (err) {
      this.#o.logger.warn({ err, topic }, 'undecodable platform message for a charger');
    }
  }

  header(): Envelope {
    return {
      deviceId: this.#o.deviceId, kind: DeviceKind.EV_CHARGER, seq: this.#o.outbox.nextSeq(this.#o.deviceId),
      tsMs: Date.now(), firmwareVersion: this.firmwareVersion,
    };
  }

  telemetryBytes(reading: EvChargerTelemetry, tsMs?: number): Uint8Array {
    const header = this.header();
    if (tsMs !== undefined && Number.isFinite(tsMs)) header.tsMs = tsMs;
    return Telemetry.encode({ header, evCharger: reading });
  }

  eventBytes(type: string, severity: Severity, message: string, attributes: Record<string, string>): Uint8Array {
    return Event.encode({ header: this.header(), type, severity, message, attributes });
  }

  topic(channel: Channel): string {
    return deviceTopic(this.addr, channel);
  }

  /** Queues a message durably (call inside Outbox.atomically with what it belongs to). */
  enqueue(channel: Channel, bytes: Uint8Array): void {
    this.#o.outbox.enqueue(this.#o.deviceId, this.topic(channel), bytes);
  }

  /** Best effort (status, heartbeat-era data): QoS 1 while the session is up. */
  publish(channel: Channel, bytes: Uint8Array, retain = false): void {
    if (this.#closed) return;
    this.#client.publish(this.topic(channel), Buffer.from(bytes), { qos: 1, retain });
  }

  birth(): void {
    this.publish(Channel.Presence, Presence.encode({
      deviceId: this.#o.deviceId, kind: DeviceKind.EV_CHARGER, online: true, tsMs: Date.now(),
      firmwareVersion: this.firmwareVersion, reason: 'birth',
    }), true);
  }

  commandResult(commandId: string, status: CommandStatus, message: string, output: Record<string, string> = {}): void {
    this.publish(Channel.CommandResult, CommandResult.encode({ header: this.header(), commandId, status, message, output }));
  }

  twinReported(appliedVersion: number, settings: DeviceSettings, error = ''): void {
    // Like the simulators: carries the last seq but does not spend one (no gap at the edge).
    const header: Envelope = { deviceId: this.#o.deviceId, kind: DeviceKind.EV_CHARGER, seq: 0, tsMs: Date.now(), firmwareVersion: this.firmwareVersion };
    this.publish(Channel.TwinReported, TwinReported.encode({ header, appliedVersion, settings, error }));
  }

  /** Sends the charger's queued transaction messages, oldest first; a row is deleted only
   * after the broker's PUBACK, so a crash anywhere re-sends (the edge drops duplicates). */
  async drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (;;) {
        if (this.#closed || !this.#client.connected) return;
        const rows = this.#o.outbox.pending(this.#o.deviceId, 100);
        if (rows.length === 0) return;
        await Promise.all(rows.map(async (row) => {
          await this.#client.publishAsync(row.topic, row.payload, { qos: 1 });
          this.#o.outbox.ack(row.id);
        }));
      }
    } catch (err) {
      this.#o.logger.warn({ err, deviceId: this.#o.deviceId }, 'outbox drain interrupted; retried on reconnect');
    } finally {
      this.#draining = false;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#client.endAsync(false).catch(() => this.#client.end(true));
  }
}

export { CommandStatus, Severity };
