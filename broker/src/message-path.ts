import type { Logger } from 'pino';
import type { BrokerConfig } from './config.js';
import type { BrokerMetrics } from './metrics.js';
import { MessageBus } from './mq.js';
import { createPersistence, type ReplayGate } from './persistence.js';
import { createSharedState } from './shared-state.js';

/**
 * What Aedes is given as `mq` and `persistence`, and the publisher push-back that goes
 * with them. Single process (the default): Yulan's in-memory bus and indexed session
 * queue, untouched. With YULAN_BROKER_REDIS_URL: the Redis-backed pair (shared-state.ts).
 */
export interface MessagePath {
  mq: unknown;
  persistence: unknown;
  concurrency: number;
  /** Calls `proceed` now, or once the backlog has drained (publisher push-back). */
  admit(proceed: () => void): void;
  readonly backlog: number;
  readonly held: number;
  /** True when sessions and routing are shared with other broker processes. */
  shared: boolean;
  /** Keeps a reconnected session's replay ahead of live deliveries. Single process only:
   * aedes-persistence-redis hands out a snapshot of the queue (see persistence.ts). */
  replay?: ReplayGate;
  /** Releases what Aedes' own close does not (the persistence's Redis connection). */
  close(): Promise<void>;
}

export function createMessagePath(config: BrokerConfig, logger: Logger, metrics: BrokerMetrics): MessagePath {
  // Broker-wide messages in delivery at once; each subscriber's share is further bounded
  // by the flow-control budget. Past 4× that many waiting, publishers are held (see mq.ts).
  const concurrency = Math.max(100, Math.min(config.queueLimit, 10_000));
  if (config.redisUrl !== undefined) {
    const shared = createSharedState({
      url: config.redisUrl,
      concurrency,
      // aedes-persistence-redis hands a reconnecting session at most this many queued
      // messages per CONNECT (default 1000: the rest would wait for the next reconnect).
      maxSessionDelivery: config.sessionQueueLimit,
      logger,
    });
    return {
      mq: shared.mq,
      persistence: shared.persistence,
      concurrency,
      admit: (proceed) => shared.admit(proceed),
      get backlog() { return shared.backlog; },
      get held() { return shared.held; },
      shared: true,
      close: () => shared.close(),
    };
  }

  let lastDropLog = 0;
  const { persistence, replay } = createPersistence({
    maxQueuedPerClient: config.sessionQueueLimit,
    onDrop: (clientId, n) => {
      metrics.droppedQueued += n;
      const now = Date.now();
      if (now - lastDropLog > 10_000) {
        lastDropLog = now;
        logger.warn({ clientId, droppedQueued: metrics.droppedQueued }, 'persistent session queue full: dropping its oldest messages');
      }
    },
  });
  const bus = new MessageBus(concurrency);
  return {
    mq: bus,
    persistence,
    concurrency,
    admit: (proceed) => bus.admit(proceed),
    get backlog() { return bus.length; },
    get held() { return bus.held; },
    shared: false,
    replay,
    close: async () => undefined,
  };
}
