import { createRequire } from 'node:module';
import type { Aedes, Client } from 'aedes';
import type { Logger } from 'pino';
import { DISCARD_TOPIC, repointToDiscard } from './hook-context.js';
import { publishAs } from './aedes-view.js';

/**
 * Clustered mode's shared state: Aedes' `mq` is mqemitter-redis (every published message
 * goes through Redis PUBLISH, so each broker process sees every message and routes it to
 * its own clients) and its `persistence` is aedes-persistence-redis (sessions, outgoing
 * queues, subscriptions, retained messages and wills live in Redis, so they survive a
 * broker process and are visible to all of them).
 *
 * Publisher push-back differs from the single-process bus (src/mq.ts). There, `admit`
 * watches the bus backlog, which is all the work a publish creates. Here a publish costs a
 * Redis round trip first and local delivery later (when Redis echoes the message to this
 * process's subscriber connection), so `admit` counts both: PUBLISHes Redis has not yet
 * acknowledged plus the local delivery queue. Past the high-water mark publishers are held
 * until it halves. It bounds this process's memory; it cannot see the other processes'
 * delivery queues (each bounds its own, and Redis drops a pub/sub client whose output
 * buffer overflows — see broker/README.md).
 */
const require = createRequire(import.meta.url);
type RedisCtor = new (url: string, opts?: object) => RedisConn;
const Redis = require('ioredis') as { default?: RedisCtor } & RedisCtor;
const MQEmitterRedis = require('mqemitter-redis') as new (opts: object) => RedisEmitter;
const redisPersistence = require('aedes-persistence-redis') as (opts: object) => SharedPersistence;

interface RedisConn {
  on(event: 'error', fn: (err: Error) => void): unknown;
  disconnect(): void;
}
type Done = (err?: unknown) => void;
interface RedisEmitter {
  emit(message: { topic: string }, cb?: Done): unknown;
  close(cb: () => void): unknown;
  /** mqemitter's local delivery queue length. */
  readonly length: number;
  readonly state: { on(event: 'error', fn: (err: Error) => void): unknown };
}
interface SharedPersistence {
  addSubscriptions(client: unknown, subs: unknown[], cb?: Done): Promise<unknown> | undefined;
}

export interface SharedState {
  mq: unknown;
  persistence: unknown;
  /** Holds a publisher while this process's share of the pipeline is over high water. */
  admit(proceed: () => void): void;
  /** Messages published here not yet acknowledged by Redis, plus the local delivery queue. */
  readonly backlog: number;
  readonly held: number;
  /** Closes the persistence's Redis connection; call after Aedes' close (which closes the mq). */
  close(): Promise<void>;
}

export interface SharedStateOptions {
  url: string;
  concurrency: number;
  /** Messages delivered to a reconnecting persistent session in one go. */
  maxSessionDelivery: number;
  logger: Logger;
}

/** How often held publishers re-check the local queue, which has no drain event. */
const RECHECK_MS = 5;

export function createSharedState(o: SharedStateOptions): SharedState {
  const RedisClass = Redis.default ?? Redis;
  const onError = (what: string) => (err: Error): void => o.logger.warn({ err: err.message }, `redis ${what} error`);
  // maxRetriesPerRequest null: while Redis is down, commands wait for it instead of
  // failing after 20 retries — an unacknowledged publish is better than a dropped one.
  const conn = (): RedisConn => {
    const c = new RedisClass(o.url, { maxRetriesPerRequest: null, enableAutoPipelining: true });
    c.on('error', onError('connection'));
    return c;
  };
  const mq = new MQEmitterRedis({ pubConn: conn(), subConn: conn(), concurrency: o.concurrency });
  mq.state.on('error', onError('pub/sub'));
  const db = conn();
  const persistence = redisPersistence({ conn: db, maxSessionDelivery: o.maxSessionDelivery });
  storeEachSubscribeOnce(persistence);

  const highWater = o.concurrency * 4;
  const lowWater = Math.floor(highWater / 2);
  let unacked = 0;
  const waiting: (() => void)[] = [];
  let timer: NodeJS.Timeout | undefined;
  const backlog = (): number => unacked + mq.length;

  const release = (): void => {
    if (waiting.length === 0 || backlog() > lowWater) return;
    for (const proceed of waiting.splice(0)) proceed();
  };
  const recheck = (): void => {
    release();
    timer = waiting.length > 0 ? setTimeout(recheck, RECHECK_MS) : undefined;
  };

  const emit = mq.emit.bind(mq);
  // Wrapped on the instance: every Aedes publish passes here, so the count is exact.
  mq.emit = (message, cb) => {
    // Already published (publishBeforeAck); nobody may subscribe to it: no Redis trip.
    if (message.topic === DISCARD_TOPIC) {
      if (cb) setImmediate(cb);
      return undefined;
    }
    unacked++;
    return emit(message, (err) => {
      unacked--;
      release();
      cb?.(err);
    });
  };

  return {
    mq,
    persistence,
    admit(proceed) {
      if (backlog() < highWater) return proceed();
      waiting.push(proceed);
      timer ??= setTimeout(recheck, RECHECK_MS);
    },
    get backlog() { return backlog(); },
    get held() { return waiting.length; },
    async close() {
      if (timer) clearTimeout(timer);
      for (const proceed of waiting.splice(0)) proceed();
      // Not persistence.destroy(): it unsubscribes through the mq, which Aedes has closed
      // by now, and would wait forever. Pending writes of closing clients are fire-and-forget.
      db.disconnect();
    },
  };
}

/**
 * Aedes 1.2 stores a persistent session's SUBSCRIBE once per filter, each time with the
 * packet's whole list (handlers/subscribe.js, storeSubscriptions). aedes-persistence's
 * broadcast then waits for its own echo under a key made of the client id and the list's
 * first filter, so with two or more filters the second wait replaces the first, the first
 * never resolves, and the SUBACK is never sent: a persistent subscriber (the edge, with its
 * four channel filters) received nothing. Aedes hands every call the same array, so calls
 * made for one packet share one write and one broadcast.
 */
export function storeEachSubscribeOnce(persistence: SharedPersistence): void {
  const add = persistence.addSubscriptions.bind(persistence);
  const pending = new WeakMap<unknown[], Promise<unknown>>();
  persistence.addSubscriptions = (client, subs, cb) => {
    if (cb) return add(client, subs, cb);
    let p = pending.get(subs);
    if (p === undefined) {
      p = add(client, subs) ?? Promise.resolve();
      pending.set(subs, p);
    }
    return p;
  };
}

/**
 * Aedes 1.2 writes a QoS 1 PUBACK *before* it publishes the message (handlers/publish.js),
 * so a broker killed in between has acknowledged a message that no subscriber and no
 * session queue will ever see. With durable shared state that is the one gap, so for
 * QoS 1 the broker publishes first — queued in Redis for persistent sessions, emitted to
 * the others — and only then lets Aedes acknowledge; the packet Aedes goes on to publish
 * is re-pointed to the discard topic (the same device the ACL uses for refused publishes),
 * which shared-state's emitter drops without a Redis round trip. A publish that fails
 * closes the connection unacknowledged, so the device sends it again.
 */
export function publishBeforeAck(aedes: Aedes, client: Client, packet: { topic: string; retain: boolean }, cb: (err: Error | null) => void): void {
  publishAs(aedes, client, packet, (err) => {
    if (err) return cb(err);
    repointToDiscard(packet);
    cb(null);
  });
}
