import mqtt, { type MqttClient } from 'mqtt';
import { Channel, GATEWAY_NOTICE_TYPES, deviceTopic, gatewayTopics, type GatewayNotice } from '@yulan/protos';
import type { Logger } from 'pino';
import { BrokerLink, type LinkCallbacks } from './link-base.js';

export interface GatewayBusOptions {
  mqttUrl: string;
  ca?: Buffer;
  username: string;
  password: string;
  clientId: string;
  logger: Logger;
}

/** How long a bind the registry could not answer waits before it is asked again. */
const RETRY_UNAVAILABLE_MS = 2000;

/**
 * The gateway account's one MQTT session (the broker's `gateway` role, docs/ocpp.md §3),
 * shared by every charger of this process. A charger's link is usable once the broker
 * has **bound** it to this session, which it does only for the key the charger presented,
 * or (account with certBind) its client certificate — the broker checks either itself. When the session drops, the broker marks every bound
 * charger offline; on reconnect every live link is bound again.
 */
export class GatewayBus {
  readonly #o: GatewayBusOptions;
  readonly #client: MqttClient;
  readonly #topics: ReturnType<typeof gatewayTopics>;
  readonly #links = new Map<string, MuxLink>();
  #noticeReady = false;
  /** Bumped whenever the session comes or goes: a PUBACK is trusted only within the epoch
   * its publish was made in (after a reconnect the broker discards, and acknowledges,
   * whatever mqtt.js re-sends before the charger is bound again). */
  epoch = 0;
  readonly stats = { binds: 0, refused: 0, revoked: 0, replaced: 0, rebinds: 0 };

  constructor(o: GatewayBusOptions) {
    this.#o = o;
    this.#topics = gatewayTopics(o.username);
    this.#client = mqtt.connect(o.mqttUrl, {
      clientId: o.clientId, username: o.username, password: o.password, protocolVersion: 4, clean: true,
      ...(o.ca ? { ca: o.ca } : {}),
      // Bindings die with the session: subscriptions are made again per charger once bound,
      // never replayed blind (the broker would refuse them before the bind).
      resubscribe: false,
      reconnectPeriod: 2000, reconnectOnConnackError: true, connectTimeout: 10_000, keepalive: 30, queueQoSZero: false,
    });
    this.#client.on('connect', () => {
      this.epoch++;
      this.#noticeReady = false;
      for (const l of this.#links.values()) l.unbound();
      this.#client.subscribe(this.#topics.notice, { qos: 1 }, (err) => {
        if (err) return void o.logger.error({ err }, 'cannot subscribe to the gateway notices');
        this.#noticeReady = true;
        if (this.#links.size > 0) o.logger.info({ chargers: this.#links.size }, 'gateway session up: binding the chargers again');
        for (const l of this.#links.values()) {
          this.stats.rebinds++;
          this.bind(l);
        }
      });
    });
    this.#client.on('close', () => {
      this.epoch++;
      this.#noticeReady = false;
      for (const l of this.#links.values()) l.unbound();
    });
    this.#client.on('error', (err) => o.logger.warn({ err: err.message }, 'gateway MQTT session error'));
    this.#client.on('message', (topic, payload) => {
      if (topic === this.#topics.notice) return this.#notice(payload);
      const id = deviceIdOf(topic);
      const l = id === undefined ? undefined : this.#links.get(id);
      l?.deliver(topic, payload);
    });
  }

  get connected(): boolean {
    return this.#client.connected;
  }

  get client(): MqttClient {
    return this.#client;
  }

  add(link: MuxLink): void {
    const old = this.#links.get(link.addr.deviceId);
    if (old !== undefined && old !== link) old.detach();
    this.#links.set(link.addr.deviceId, link);
    if (this.#noticeReady) this.bind(link);
  }

  remove(link: MuxLink): void {
    if (this.#links.get(link.addr.deviceId) !== link) return;
    this.#links.delete(link.addr.deviceId);
    if (!this.#client.connected) return;
    const id = link.addr.deviceId;
    this.#client.unsubscribe([deviceTopic(link.addr, Channel.Command), deviceTopic(link.addr, Channel.TwinDesired)]);
    this.#client.publish(this.#topics.unbind, JSON.stringify({ id }), { qos: 1 });
  }

  bind(link: MuxLink): void {
    if (!this.#noticeReady || this.#links.get(link.addr.deviceId) !== link) return;
    this.#client.publish(this.#topics.bind, JSON.stringify({ id: link.addr.deviceId, ...link.proof }), { qos: 1 });
  }

  #notice(payload: Buffer): void {
    let n: GatewayNotice;
    try {
      n = JSON.parse(payload.toString('utf8')) as GatewayNotice;
      if (!GATEWAY_NOTICE_TYPES.has(n.type) || typeof n.id !== 'string') throw new Error('unknown notice');
    } catch (err) {
      return void this.#o.logger.warn({ err }, 'undecodable gateway notice');
    }
    const link = this.#links.get(n.id);
    if (link === undefined) return;
    if (n.type === 'bound') {
      this.stats.binds++;
      this.#client.subscribe([deviceTopic(link.addr, Channel.Command), deviceTopic(link.addr, Channel.TwinDesired)], { qos: 1 }, (err) => {
        if (err) this.#o.logger.warn({ err, deviceId: n.id }, 'subscribe for a bound charger failed');
      });
      link.bound();
    } else if (n.type === 'refused' && n.reason === 'unavailable') {
      setTimeout(() => this.bind(link), RETRY_UNAVAILABLE_MS).unref();
    } else {
      // configuration errors, not the charger's: say what to fix
      if (n.type === 'refused' && n.reason === 'cert-bind-not-allowed') {
        this.#o.logger.error({ deviceId: n.id, account: this.#o.username }, 'the broker refuses this account binds by certificate (for this kind): give it "certBind": ["ev-charger"] in the broker accounts file, or unset YULAN_OCPP_CERT_BIND');
      } else if (n.type === 'refused' && n.reason === 'cert-unsupported') {
        this.#o.logger.error({ deviceId: n.id }, 'the broker has no device CA (YULAN_DEVICE_CA_FILE): it cannot check chargers\' certificates');
      }
      if (n.type === 'refused') this.stats.refused++;
      else if (n.reason === 'revoked') this.stats.revoked++;
      else this.stats.replaced++;
      this.#links.delete(n.id);
      link.unbound();
      link.refused(n.type === 'refused' ? `broker refused the charger (${n.reason})` : n.reason === 'revoked' ? 'revoked' : 'connected to another gateway');
    }
  }

  async close(): Promise<void> {
    await this.#client.endAsync(false).catch(() => this.#client.end(true));
  }
}

const ROOT_LEVELS = 2; // yulan/v1
function deviceIdOf(topic: string): string | undefined {
  const parts = topic.split('/');
  return parts.length === ROOT_LEVELS + 4 ? parts[ROOT_LEVELS + 2] : undefined;
}

/** A charger spoken for through the gateway's shared session (GatewayBus). */
export class MuxLink extends BrokerLink {
  /** what the broker binds it by: the key it presented, or its client certificate (PEM) */
  readonly proof: { key: string } | { cert: string };
  readonly #bus: GatewayBus;
  #bound = false;
  #waiters = new Set<(ok: boolean) => void>();

  constructor(o: LinkCallbacks & { bus: GatewayBus; proof: { key: string } | { cert: string } }) {
    super(o);
    this.proof = o.proof;
    this.#bus = o.bus;
    o.bus.add(this);
  }

  get connected(): boolean {
    return this.#bound && this.#bus.connected;
  }

  async ready(timeoutMs: number): Promise<boolean> {
    if (this.connected) return true;
    if (this.closed) return false;
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(t);
        this.#waiters.delete(done);
        resolve(ok);
      };
      const t = setTimeout(() => done(false), timeoutMs);
      this.#waiters.add(done);
    });
  }

  /** @internal the broker bound it (GatewayBus) */
  bound(): void {
    this.#bound = true;
    for (const w of [...this.#waiters]) w(true);
    void this.drain();
  }

  /** @internal the session dropped or the binding ended */
  unbound(): void {
    this.#bound = false;
  }

  /** @internal */
  refused(reason: string): void {
    this.o.logger.info({ deviceId: this.addr.deviceId, reason }, 'broker ended the charger\'s binding: cutting it off');
    this.o.onRefused(reason);
  }

  /** @internal a newer link of the same charger took its place on the bus */
  detach(): void {
    this.#bound = false;
    this.closed = true;
    for (const w of [...this.#waiters]) w(false);
  }

  /** @internal */
  deliver(topic: string, payload: Buffer): void {
    if (this.#bound) this.message(topic, payload);
  }

  protected send(topic: string, payload: Buffer, retain: boolean): void {
    if (this.connected) this.#bus.client.publish(topic, payload, { qos: 1, retain });
  }

  protected async sendAcked(topic: string, payload: Buffer): Promise<void> {
    const epoch = this.#bus.epoch;
    if (!this.connected) throw new Error('charger not bound; sent after the next bind');
    await this.#bus.client.publishAsync(topic, payload, { qos: 1 });
    // Only a PUBACK of this session while bound means the broker took it (see epoch).
    if (this.#bus.epoch !== epoch || !this.#bound) throw new Error('session changed before the PUBACK; sent again after the next bind');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.#bound = false;
    for (const w of [...this.#waiters]) w(false);
    this.#bus.remove(this);
  }
}
