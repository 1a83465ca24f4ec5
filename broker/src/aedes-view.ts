import type { Readable } from 'node:stream';
import type { Aedes, Client } from 'aedes';

/**
 * The one place that reads Aedes internals for the admin API (admin-api.ts): the client
 * table (`aedes.clients`), a client's subscriptions (`client.subscriptions`), its socket
 * address, and the retained store (`persistence.createRetainedStream`). None of these are
 * in Aedes' typed API; if an Aedes upgrade moves them, this file is what changes. Nothing
 * here writes to Aedes state except `disconnect`, which uses the public `client.close()`.
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
}
interface ClientInternals {
  subscriptions: Record<string, { qos: number } | undefined>;
  conn: { remoteAddress?: string };
  req?: { socket?: { remoteAddress?: string } };
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
    const subs = (client as unknown as ClientInternals).subscriptions;
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
        const c = client as unknown as ClientInternals;
        out.push({
          id: client.id,
          username: usernameOf(client),
          address: c.conn.remoteAddress ?? c.req?.socket?.remoteAddress,
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
