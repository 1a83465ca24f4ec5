import type { Readable } from 'node:stream';
import type { Aedes, Client } from 'aedes';

/**
 * The one place that reads Aedes internals: fields and call forms its typings omit. For
 * the admin API (admin-api.ts): the client table (`aedes.clients`), a client's
 * subscriptions (`client.subscriptions`), and the retained store
 * (`persistence.createRetainedStream`). For the hooks and the message path: a client's
 * peer address, the session holding a client id (`client.broker.clients`), its last will
 * (`client.will` once fired, `client._will` from CONNECT), its per-broker dedupe counters
 * (`client.duplicates`) and `publish(packet, client, done)`. If an Aedes upgrade moves any
 * of them, this file is what changes. Writes are limited to the will and the dedupe
 * counters (clustered mode, below); `disconnect` uses the public `client.close()`.
 */

export interface ClientInfo {
  id: string;
  /** The MQTT username it authenticated with (a device's id, a service account, `int:<name>`). */
  username: string | undefined;
  address: string | undefined;
  /** ms since epoch, when the broker accepted its CONNECT. */
  connectedSince: number;
  /** ms since epoch, the last packet the broker saw from it (publish, subscribe, ack, ping). */
  lastActivity: number;
  subscriptions: number;
}

export interface SubscriptionInfo {
  topic: string;
  qos: number;
}

export interface RetainedInfo {
  topic: string;
  qos: number;
  payload: Buffer;
}

interface AedesInternals {
  clients: Record<string, Client | undefined>;
  persistence: { createRetainedStream(pattern: string): Readable };
  // Aedes' typings have only publish(packet, done); the runtime takes the sender too (aedes.js).
  publish(packet: unknown, client: Client, done: (err?: Error | null) => void): void;
}
interface ClientInternals {
  subscriptions: Record<string, { qos: number } | undefined>;
  conn: { remoteAddress?: string };
  req?: { socket?: { remoteAddress?: string } };
  broker: AedesInternals;
  /** The will being published (set when it fires). */
  will?: unknown;
  /** The will from CONNECT, published if the connection dies. */
  _will?: { topic: string } | null;
  duplicates: Record<string, number>;
}

const internalsOf = (client: Client): ClientInternals => client as unknown as ClientInternals;

/** The peer address of a client: its TCP/TLS socket, or the request under a WebSocket. */
export function addressOf(client: Client): string | undefined {
  const c = internalsOf(client);
  return c.conn.remoteAddress ?? c.req?.socket?.remoteAddress;
}

/** The client Aedes has registered under this id (the session it will close when a new
 * CONNECT of that id is accepted), if any. */
export function clientHolding(client: Client, clientId: string): Client | undefined {
  return internalsOf(client).broker.clients[clientId];
}

/** Whether this publish is the client's last will, fired. */
export function isWillOf(client: Client, packet: object): boolean {
  return packet === internalsOf(client).will;
}

/** The will the client gave at CONNECT, if it gave one (and it was not dropped). */
export function connectWill(client: Client): { topic: string } | undefined {
  return internalsOf(client)._will ?? undefined;
}

/** Forgets the will the client gave at CONNECT: it will not be published. */
export function dropConnectWill(client: Client): void {
  internalsOf(client)._will = null;
}

/**
 * Aedes drops a delivery whose per-broker counter is not above the last one this client
 * got from that broker, assuming messages reach it in publish order. Through Redis they
 * do not: a retained or persistent-session message waits for Redis writes before it is
 * emitted, so a later plain message overtakes it and the earlier one was silently dropped
 * (seen as lost online presence). Duplicates it meant to catch are already removed by
 * mqemitter-redis (per-message ids), and QoS 1 allows the rest, so it is switched off.
 */
const NEVER_SEEN: Record<string, number> = new Proxy(Object.create(null) as Record<string, number>, {
  get: () => undefined,
  set: () => true,
});

export function disableCounterDedupe(client: Client): void {
  internalsOf(client).duplicates = NEVER_SEEN;
}

/** Publishes as if the client had sent it (Aedes runs its publish path for that client). */
export function publishAs(aedes: Aedes, client: Client, packet: unknown, done: (err?: Error | null) => void): void {
  const internals = aedes as unknown as AedesInternals;
  internals.publish(packet, client, done);
}

export interface AedesView {
  clients(): ClientInfo[];
  subscriptions(id: string): SubscriptionInfo[] | undefined;
  /** Closes the client's connection; false when no such client is connected here. */
  disconnect(id: string): boolean;
  retained(filter: string, max: number): Promise<{ messages: RetainedInfo[]; count: number; bytes: number }>;
  /** Calls `listener` when a client connects or disconnects here; returns the unsubscribe. */
  onChange(listener: (change: { id: string; connected: boolean }) => void): () => void;
}

/** Subscriptions the broker adds for its own use (Aedes' `$SYS` keep-alive) are not the client's. */
const HIDDEN_TOPIC_PREFIX = '$SYS/';

export function createAedesView(aedes: Aedes, usernameOf: (client: Client) => string | undefined): AedesView {
  // Aedes keeps no timestamps: the view records them from its public events.
  const since = new WeakMap<Client, number>();
  const active = new WeakMap<Client, number>();
  const touch = (client: Client | null): void => {
    if (client) active.set(client, Date.now());
  };
  const listeners = new Set<(change: { id: string; connected: boolean }) => void>();
  const changed = (id: string, connected: boolean): void => { for (const l of listeners) l({ id, connected }); };
  aedes.on('client', (client) => {
    const now = Date.now();
    since.set(client, now);
    active.set(client, now);
    changed(client.id, true);
  });
  aedes.on('clientDisconnect', (client) => { if (since.has(client)) changed(client.id, false); });
  aedes.on('publish', (_p, client) => touch(client));
  aedes.on('subscribe', (_s, client) => touch(client));
  aedes.on('unsubscribe', (_s, client) => touch(client));
  aedes.on('ack', (_p, client) => touch(client));
  aedes.on('ping', (_p, client) => touch(client));

  const internals = aedes as unknown as AedesInternals;
  const subsOf = (client: Client): SubscriptionInfo[] => {
    const subs = internalsOf(client).subscriptions;
    const out: SubscriptionInfo[] = [];
    for (const [topic, s] of Object.entries(subs)) {
      if (s && !topic.startsWith(HIDDEN_TOPIC_PREFIX)) out.push({ topic, qos: s.qos });
    }
    return out;
  };
  const live = (id: string): Client | undefined => {
    const c = Object.hasOwn(internals.clients, id) ? internals.clients[id] : undefined;
    return c && since.has(c) && !c.closed ? c : undefined;
  };

  return {
    clients() {
      const out: ClientInfo[] = [];
      for (const client of Object.values(internals.clients)) {
        if (!client || client.closed || !since.has(client)) continue;
        out.push({
          id: client.id,
          username: usernameOf(client),
          address: addressOf(client),
          connectedSince: since.get(client) ?? 0,
          lastActivity: active.get(client) ?? 0,
          subscriptions: subsOf(client).length,
        });
      }
      return out;
    },
    subscriptions(id) {
      const c = live(id);
      return c ? subsOf(c) : undefined;
    },
    disconnect(id) {
      const c = live(id);
      if (!c) return false;
      c.close();
      return true;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => { listeners.delete(listener); };
    },
    async retained(filter, max) {
      const messages: RetainedInfo[] = [];
      let count = 0;
      let bytes = 0;
      for await (const p of internals.persistence.createRetainedStream(filter) as AsyncIterable<{ topic: string; qos: number; payload: Buffer | string }>) {
        const payload = Buffer.isBuffer(p.payload) ? p.payload : Buffer.from(p.payload);
        count++;
        bytes += payload.length;
        if (messages.length < max) messages.push({ topic: p.topic, qos: p.qos, payload });
      }
      return { messages, count, bytes };
    },
  };
}
