import type { OutgoingQueue, Queued } from './outgoing-queue.js';

type Result = IteratorResult<Queued, undefined>;
const DONE: Result = { done: true, value: undefined };

/**
 * One connection's replay of its persistent session's queue, read live (the stock
 * persistence hands out a snapshot): messages enqueued while the replay runs are sent by
 * it, after the older ones. A Map iterator visits entries added during iteration and skips
 * deleted ones, so acks and new messages can change the queue underneath.
 *
 * The replay ends only when the queue is read to its end AND every message it read has
 * come back through `wrote` (Aedes' `outgoingUpdate`, just before it writes it). Aedes'
 * replay pipeline reads ahead (two stream buffers, ~17 messages), so "read" is not
 * "written": ending at the last read let a message enqueued just then go out live, ahead of
 * the backlog still in those buffers (the chaos edge-kill test saw one device's newer
 * readings before its older ones). The check for more and the end happen in one
 * synchronous step, so no live message falls between the two.
 */
export class ReplayReader implements AsyncIterableIterator<Queued, undefined> {
  private entries: Iterator<[string, Queued]>;
  /** Publishes read and not yet handed back (a PUBREL has no broker identity and is not
   * ordered against live deliveries). */
  private readonly unwritten = new Set<string>();
  private drained: (() => void) | undefined;
  /** Key of the entry read last. */
  private position: string | undefined;
  private ended = false;

  constructor(private readonly q: OutgoingQueue, private readonly onEnd: () => void) {
    this.entries = q.byKey.entries();
  }

  /** Aedes has taken a message this replay read and is about to write it. */
  wrote(key: string): void {
    if (this.unwritten.delete(key) && this.unwritten.size === 0) this.drained?.();
  }

  /** Ends the replay (read to the end, or the connection is gone). Idempotent. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd();
    this.drained?.();
  }

  async next(): Promise<Result> {
    return this.step();
  }

  async return(): Promise<Result> {
    this.end();
    return DONE;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private step(): Result | Promise<Result> {
    if (this.ended) return DONE;
    // A Map iterator that has once said "done" stays done, even if entries are added later:
    // while messages are unwritten it is not asked past the last one, which would end it.
    if (this.unwritten.size > 0 && this.position !== undefined && this.position === this.q.lastKey) {
      return this.whenDrained().then(() => this.step());
    }
    const r = this.entries.next();
    if (r.done !== true) {
      const [key, p] = r.value;
      this.position = key;
      if (p.cmd === 'publish') this.unwritten.add(key);
      return { done: false, value: p };
    }
    if (this.unwritten.size === 0) {
      this.end();
      return DONE;
    }
    // Everything after `position` was removed meanwhile (a QoS 2 message's PUBREC), so the
    // iterator is spent, yet what is enqueued from now on is held for this replay. Once
    // Aedes has the ones read, read the queue afresh, passing over what this connection
    // has already written (those carry its message ids).
    return this.whenDrained().then(() => {
      const fresh = this.q.byKey.entries();
      this.entries = {
        next: () => {
          for (let n = fresh.next(); ; n = fresh.next()) if (n.done === true || n.value[1].messageId === undefined) return n;
        },
      };
      this.position = undefined;
      return this.step();
    });
  }

  private whenDrained(): Promise<void> {
    return new Promise<void>((resolve) => { this.drained = resolve; }).then(() => { this.drained = undefined; });
  }
}
