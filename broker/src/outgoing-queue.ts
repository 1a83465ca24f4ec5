import type { AedesPacket } from 'aedes-packet';

export type Queued = AedesPacket & { messageId?: number };

/**
 * Queue keys by packet id, oldest holder first. Aedes hands out packet ids round-robin
 * without checking which are still in flight, so past 65,535 unacknowledged deliveries
 * (a subscriber far behind, or a large replay) two queued messages carry the same id. A
 * one-key index then forgot the older one: its PUBACK cleared the newer one, and the older
 * stayed queued for ever, filling the session's bound until real messages were dropped
 * (seen as loss at 20,000 msg/s into SQLite). A subscriber acknowledges in the order it
 * received, so a PUBACK clears the oldest message holding that id.
 */
class IdIndex {
  private readonly m = new Map<number, string | string[]>();

  add(id: number, key: string): void {
    const cur = this.m.get(id);
    if (cur === undefined) this.m.set(id, key);
    else if (typeof cur === 'string') this.m.set(id, [cur, key]);
    else cur.push(key);
  }

  first(id: number): string | undefined {
    const cur = this.m.get(id);
    return typeof cur === 'string' || cur === undefined ? cur : cur[0];
  }

  has(id: number): boolean {
    return this.m.has(id);
  }

  /** Distinct ids held. */
  get size(): number {
    return this.m.size;
  }

  /** Removes and returns the oldest key holding `id`. */
  shift(id: number): string | undefined {
    const cur = this.m.get(id);
    if (typeof cur === 'string' || cur === undefined) {
      this.m.delete(id);
      return cur;
    }
    const key = cur.shift();
    if (cur.length === 1) this.m.set(id, cur[0]!);
    return key;
  }

  remove(id: number, key: string): void {
    const cur = this.m.get(id);
    if (cur === key) this.m.delete(id);
    else if (Array.isArray(cur)) {
      const i = cur.indexOf(key);
      if (i >= 0) cur.splice(i, 1);
      if (cur.length === 1) this.m.set(id, cur[0]!);
    }
  }
}

/**
 * A persistent session's outgoing queue, as the indexed persistence (persistence.ts) keeps
 * it: insertion order in a Map (O(1) delete) with a message-id index, instead of the stock
 * store's array searched on every delivery and PUBACK.
 */
export class OutgoingQueue {
  /** Insertion-ordered by broker packet identity (brokerId:brokerCounter). */
  readonly byKey = new Map<string, Queued>();
  readonly keyByMessageId = new IdIndex();

  /** A packet id no queued message holds, searching upwards from `from` (1…65,535,
   * wrapping); undefined when all are held (more than 65,535 messages in flight). */
  freeId(from: number): number | undefined {
    if (this.keyByMessageId.size >= 65_535) return undefined;
    for (let i = 0, id = from; i < 65_535; i++, id = id >= 65_535 ? 1 : id + 1) {
      if (!this.keyByMessageId.has(id)) return id;
    }
    return undefined;
  }

  /** The key pushed last (it may have been removed since): a replay positioned on it has
   * nothing after it to read (replay-reader.ts). */
  lastKey: string | undefined;

  push(p: Queued): void {
    const key = keyOf(p);
    this.lastKey = key;
    this.byKey.set(key, p);
    if (p.messageId !== undefined) this.keyByMessageId.add(p.messageId, key);
  }

  dropOldest(): Queued | undefined {
    const first = this.byKey.entries().next();
    if (first.done) return undefined;
    const [key, p] = first.value;
    this.byKey.delete(key);
    if (p.messageId !== undefined) this.keyByMessageId.remove(p.messageId, key);
    return p;
  }
}

/** A message's broker identity: the queue's key. */
export function keyOf(p: { brokerId?: string; brokerCounter?: number }): string {
  return `${p.brokerId ?? ''}:${p.brokerCounter ?? 0}`;
}
