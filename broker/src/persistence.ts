import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import type { AedesPacket } from 'aedes-packet';
import { keyOf, OutgoingQueue, type Queued } from './outgoing-queue.js';
import { ReplayReader } from './replay-reader.js';

/**
 * Aedes' in-memory persistence with an indexed outgoing queue.
 *
 * The stock memory persistence keeps each persistent session's in-flight QoS 1 messages in
 * an array and finds them by linear search on every delivery (`outgoingUpdate`) and every
 * PUBACK (`outgoingClearMessageId`). With a subscriber that acknowledges in batches — the
 * edge agent commits to its outbox before it acks — the queue holds thousands of messages
 * and the broker spends its time scanning it: measured here, throughput fell from ~7k to
 * under 3k msg/s as the backlog grew. This keeps insertion order in a Map (O(1) delete)
 * with a message-id index, and bounds the queue of a session that is offline: past
 * `maxQueuedPerClient` the oldest message is dropped and reported through `onDrop`, so a
 * subscriber that never comes back cannot exhaust the broker's memory.
 *
 * Retained messages are also indexed by topic: the stock store answers every SUBSCRIBE by
 * testing each retained topic against each filter, and every device keeps a retained
 * presence message, so each device's (exact-topic) subscriptions cost a pass over the
 * whole fleet — O(fleet) per connect, O(fleet²) for a fleet coming online. Measured by
 * the rollout scenario: ~30 ms of broker CPU per connect at 1,500 devices, 60 % of it in
 * that scan, and a 10,000-device fleet took over half an hour to connect. Filters without
 * wildcards are now a lookup; wildcard filters still scan.
 *
 * Everything else (subscriptions, wills, incoming QoS 2) is the stock implementation:
 * this plugs in through Aedes' `persistence` option, not by patching.
 */
const require = createRequire(import.meta.url);
const MemoryPersistence = require('aedes-persistence/asyncPersistence.js') as new (opts?: object) => AsyncPersistenceBase;
const { CallBackPersistence } = require('aedes-persistence/callBackPersistence.js') as {
  CallBackPersistence: new (factory: (opts: object) => AsyncPersistenceBase, opts?: object) => unknown;
};
const { Packet } = require('aedes-persistence') as { Packet: new (p: object) => AedesPacket };

interface AsyncPersistenceBase {
  cleanSubscriptions(client: { id: string }): Promise<unknown>;
  storeRetained(packet: Retained): Promise<void>;
  createRetainedStreamCombi(patterns: string[]): Readable;
}

type Retained = AedesPacket & { topic: string; payload: Buffer };

/** What the gate needs of an Aedes client: `connecting` stays true from CONNECT until the
 * queue replay that ends the connect sequence has finished. */
export interface ReplayClient {
  readonly id: string;
  readonly connecting: boolean;
}

/**
 * Keeps a reconnected session's messages in publish order. Aedes restores a persistent
 * session's subscriptions, sends CONNACK and only then replays the session's queue, so
 * live messages were written before and among the backlog: after an edge restart each
 * device's newest readings arrived ahead of the ones queued while the edge was down. The
 * broker's `authorizeForward` asks this gate about each live QoS 1+ delivery to a
 * persistent session; until that connection's replay has finished, a message that is in
 * the queue (Aedes enqueues before it routes) is left to the replay, which reads the
 * queue live until it is empty and Aedes has taken every message it read (its stream
 * buffers read ahead: replay-reader.ts). A connection that fails before its replay leaves the
 * messages queued for the next one.
 */
export interface ReplayGate {
  /** True when this live delivery must not be written now: the connection's replay has
   * not finished and will send it in order, or the replay has already sent it. */
  holdsLive(client: ReplayClient, packet: { brokerId?: string; brokerCounter?: number }): boolean;
  /** Messages held for persistent sessions (sent and unacknowledged, or not yet sent). */
  queuedTotal(): number;
}

export interface PersistenceOptions {
  maxQueuedPerClient: number;
  onDrop(clientId: string, dropped: number): void;
}

function createIndexedMemory(options: PersistenceOptions): AsyncPersistenceBase & ReplayGate {
  class IndexedMemoryPersistence extends MemoryPersistence {
    readonly queues = new Map<string, OutgoingQueue>();

    private queue(id: string): OutgoingQueue {
      let q = this.queues.get(id);
      if (!q) {
        q = new OutgoingQueue();
        this.queues.set(id, q);
      }
      return q;
    }

    private enqueue(clientId: string, packet: object): void {
      const q = this.queue(clientId);
      q.push(new Packet(packet));
      if (q.byKey.size > options.maxQueuedPerClient) {
        q.dropOldest();
        options.onDrop(clientId, 1);
      }
    }

    async outgoingEnqueue(sub: { clientId: string }, packet: object): Promise<void> {
      this.enqueue(sub.clientId, packet);
    }

    async outgoingEnqueueCombi(subs: { clientId: string }[], packet: object): Promise<void> {
      for (const sub of subs) this.enqueue(sub.clientId, packet);
    }

    /** Same contract as the stock implementation: match by broker identity and record the
     * message id; else replace the packet holding that message id (PUBREC → PUBREL). */
    async outgoingUpdate(client: { id: string }, packet: Queued): Promise<void> {
      const q = this.queue(client.id);
      const key = keyOf(packet);
      if (packet.cmd === 'publish') this.readers.get(client)?.wrote(key);
      const found = q.byKey.get(key);
      if (found) {
        if (found.messageId !== undefined) q.keyByMessageId.remove(found.messageId, key);
        // Aedes numbers deliveries round-robin and a returning session's replay keeps the
        // ids of the connection before, so the id it chose can belong to a message still
        // in flight; the subscriber's PUBACK would then clear the wrong one and leave the
        // other stranded (or drop a message never delivered on this connection). This is
        // the packet Aedes writes next, so give it a free id instead.
        if (packet.messageId !== undefined && q.keyByMessageId.has(packet.messageId)) {
          const free = q.freeId(packet.messageId);
          if (free !== undefined) packet.messageId = free;
        }
        found.messageId = packet.messageId;
        if (packet.messageId !== undefined) q.keyByMessageId.add(packet.messageId, key);
        return;
      }
      const byId = packet.messageId === undefined ? undefined : q.keyByMessageId.first(packet.messageId);
      if (byId !== undefined) {
        q.byKey.set(byId, packet); // same key: keeps its place in the order
        return;
      }
      throw new Error('no such packet');
    }

    async outgoingClearMessageId(client: { id: string }, packet: { messageId?: number }): Promise<Queued | undefined> {
      const q = this.queues.get(client.id);
      if (!q || packet.messageId === undefined) return undefined;
      const key = q.keyByMessageId.shift(packet.messageId);
      if (key === undefined) return undefined;
      const p = q.byKey.get(key);
      q.byKey.delete(key);
      return p;
    }

    /** Connections whose replay has ended (replay-reader.ts), or was cut short. */
    readonly replayed = new WeakSet<object>();
    private readonly readers = new WeakMap<object, ReplayReader>();

    /** The queue for a returning connection, read live until what it read is written
     * (replay-reader.ts says why). */
    outgoingStream(client: ReplayClient): Readable {
      const q = this.queue(client.id);
      // The packet ids of the connection before mean nothing to this one, and with more
      // than 65,535 messages in flight Aedes gave several the same id, so keeping them
      // would make this connection's PUBACKs ambiguous. QoS 1 messages go out again with
      // ids of this connection (DUP set), numbered by Aedes as it replays them, which
      // departs from [MQTT-4.4.0-1] ("original packet identifiers"): a QoS 1 receiver
      // acknowledges whatever id it got, so nothing depends on it. QoS 2 keeps its ids.
      for (const [key, p] of q.byKey) {
        if (p.messageId === undefined || p.cmd !== 'publish') continue;
        // Sent before and not acknowledged: a re-delivery, so DUP [MQTT-3.3.1-1]; QoS 2
        // was sent without it (found by the Paho redelivery test, issue 16).
        p.dup = true;
        if (p.qos !== 1) continue;
        q.keyByMessageId.remove(p.messageId, key);
        p.messageId = undefined;
        p.dup = true;
      }
      const reader = new ReplayReader(q, () => {
        this.replayed.add(client);
        this.readers.delete(client);
      });
      this.readers.set(client, reader);
      const stream = Readable.from(reader, { objectMode: true, highWaterMark: 1 });
      // Destroyed before its first read, the iterator is never asked to return.
      stream.once('close', () => reader.end());
      return stream;
    }

    queuedTotal(): number {
      let n = 0;
      for (const q of this.queues.values()) n += q.byKey.size;
      return n;
    }

    holdsLive(client: ReplayClient, packet: { brokerId?: string; brokerCounter?: number }): boolean {
      const entry = this.queues.get(client.id)?.byKey.get(keyOf(packet));
      if (entry === undefined) return false;
      if (!this.replayed.has(client)) return client.connecting;
      // Enqueued, then taken by the replay's last reads before this live delivery ran: the
      // replay ends only after Aedes took what it read, which gave each a message id.
      return entry.messageId !== undefined;
    }

    /** The stock store keeps its own (private) map, which wildcard filters still scan. */
    readonly retainedByTopic = new Map<string, Retained>();

    override async storeRetained(packet: Retained): Promise<void> {
      await super.storeRetained(packet);
      if (packet.payload.length === 0) this.retainedByTopic.delete(packet.topic);
      else this.retainedByTopic.set(packet.topic, Object.assign({}, packet));
    }

    override createRetainedStreamCombi(patterns: string[]): Readable {
      if (patterns.some((p) => p.includes('+') || p.includes('#'))) return super.createRetainedStreamCombi(patterns);
      const found = patterns.map((p) => this.retainedByTopic.get(p)).filter((p): p is Retained => p !== undefined);
      return Readable.from(found);
    }

    override async cleanSubscriptions(client: { id: string }): Promise<unknown> {
      // A clean session throws away what a previous persistent session had queued.
      this.queues.delete(client.id);
      return super.cleanSubscriptions(client);
    }
  }
  return new IndexedMemoryPersistence();
}

/** The persistence to hand to `Aedes.createBroker({ persistence })`, and its replay gate. */
export function createPersistence(options: PersistenceOptions): { persistence: unknown; replay: ReplayGate } {
  const inner = createIndexedMemory(options);
  return { persistence: new CallBackPersistence(() => inner), replay: inner };
}
