import mqtt, { type MqttClient } from 'mqtt';
import { Channel, DeviceKind, Presence, deviceTopic } from '@yulan/protos';
import { BrokerLink, type LinkCallbacks } from './link-base.js';

export interface ChargerLinkOptions extends LinkCallbacks {
  mqttUrl: string;
  /** PEM CA for an mqtts:// broker */
  ca?: Buffer;
  secret: string;
}

/** MQTT refusals (3.1.1) that mean the device may no longer connect. */
const REFUSED = new Set([4, 5]);

/**
 * Per-charger mode (no YULAN_OCPP_MQTT_USERNAME): an MQTT session of that device, with
 * the credentials the charger itself presented (client id = username = charge point id,
 * password = its AuthorizationKey). The broker therefore applies the device's own ACL,
 * presence and revocation to it (docs/ocpp.md §3). Two sockets per charger.
 */
export class ChargerLink extends BrokerLink {
  readonly #client: MqttClient;

  constructor(o: ChargerLinkOptions) {
    super(o);
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
    this.#client.on('message', (topic, payload) => this.message(topic, payload));
  }

  get connected(): boolean {
    return this.#client.connected;
  }

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

  protected send(topic: string, payload: Buffer, retain: boolean): void {
    this.#client.publish(topic, payload, { qos: 1, retain });
  }

  protected async sendAcked(topic: string, payload: Buffer): Promise<void> {
    await this.#client.publishAsync(topic, payload, { qos: 1 });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.#client.endAsync(false).catch(() => this.#client.end(true));
  }
}

export { CommandStatus, Severity } from './link-base.js';
