import crypto = require('node:crypto');
import mqtt = require('mqtt');

export type Handler = (topic: string, payload: Buffer) => void;
export type ConnState = 'connecting' | 'connected' | 'disconnected' | 'refused';
export interface Listener {
  state(s: ConnState, detail?: string): void;
  /** A filter this listener asked for was refused by the broker's ACL (SUBACK 0x80). */
  refused?(filter: string): void;
}

/**
 * One MQTT session per config node, shared by every Yulan node that uses it. Filters are
 * reference-counted and subscribed again on every reconnect (clean session: the broker
 * keeps nothing for an integration between connections).
 */
export class YulanConnection {
  readonly #client: mqtt.MqttClient;
  readonly #subs = new Map<string, Set<{ handler: Handler; listener: Listener }>>();
  readonly #listeners = new Set<Listener>();
  #state: ConnState = 'connecting';
  #detail: string | undefined;
  readonly namespace: string;

  constructor(readonly url: string, readonly account: string, secret: string) {
    this.namespace = `ext/${account}`;
    this.#client = mqtt.connect(url, {
      username: `int:${account}`,
      password: secret,
      clientId: `int:${account}:nr-${crypto.randomBytes(4).toString('hex')}`,
      clean: true,
      reconnectPeriod: 5000,
      connectTimeout: 10_000,
    });
    this.#client.on('connect', () => {
      this.#set('connected');
      for (const filter of this.#subs.keys()) this.#subscribe(filter);
    });
    this.#client.on('close', () => { if (this.#state !== 'refused') this.#set('disconnected'); });
    this.#client.on('error', (err) => {
      const code = (err as { code?: number }).code;
      // 4 bad credentials, 5 not authorised (disabled): retrying will not help until changed.
      if (code === 4 || code === 5) this.#set('refused', err.message);
      else this.#detail = err.message;
    });
    this.#client.on('message', (topic, payload) => {
      for (const [filter, entries] of this.#subs) {
        if (!matches(filter, topic)) continue;
        for (const e of entries) e.handler(topic, payload);
      }
    });
  }

  get connected(): boolean {
    return this.#client.connected;
  }

  watch(listener: Listener): () => void {
    this.#listeners.add(listener);
    listener.state(this.#state, this.#detail);
    return () => this.#listeners.delete(listener);
  }

  subscribe(filter: string, listener: Listener, handler: Handler): () => void {
    let entries = this.#subs.get(filter);
    const first = !entries;
    if (!entries) this.#subs.set(filter, (entries = new Set()));
    const entry = { handler, listener };
    entries.add(entry);
    if (first && this.#client.connected) this.#subscribe(filter);
    return () => {
      entries.delete(entry);
      if (entries.size === 0) {
        this.#subs.delete(filter);
        if (this.#client.connected) this.#client.unsubscribe(filter);
      }
    };
  }

  async publish(topic: string, payload: Buffer, qos: 0 | 1, retain: boolean): Promise<void> {
    await this.#client.publishAsync(topic, payload, { qos, retain });
  }

  async close(): Promise<void> {
    await this.#client.endAsync(true);
  }

  #subscribe(filter: string): void {
    this.#client.subscribe(filter, { qos: 1 }, (err, granted) => {
      if (err || granted?.some((g) => g.qos === 128)) {
        for (const e of this.#subs.get(filter) ?? []) e.listener.refused?.(filter);
      }
    });
  }

  #set(s: ConnState, detail?: string): void {
    this.#state = s;
    this.#detail = detail;
    for (const l of this.#listeners) l.state(s, detail);
  }
}

/** MQTT topic matching (for dispatch only: the broker already filtered by ACL). */
export function matches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
