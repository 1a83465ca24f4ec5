import type { Logger } from 'pino';
import { WINDOW_MS } from './domain/aggregator.js';
import type { Forwarder } from './forwarder.js';
import type { Ingestor } from './ingest.js';
import type { LatestCache } from './latest-cache.js';
import type { Outbox } from './outbox.js';
import type { DeleteRange, TelemetryStore } from './store/store.js';

export interface EraseResult {
  deviceId: string;
  fromMs: number;
  toMs: number;
  /** records still queued for the store that were dropped */
  outboxDropped: number;
}

export interface EraseDeps {
  ingestor: Ingestor;
  outbox: Outbox;
  forwarder: Forwarder;
  store: TelemetryStore;
  latest: LatestCache;
  logger: Logger;
}

/**
 * Erases a device's data in [fromMs, toMs) everywhere the edge holds it (docs/care.md §5):
 * the open 1-minute windows, the outbox, the latest-value cache and the store. Runs with
 * the forwarder held, so no batch read before the erasure is written after it. Idempotent;
 * a store failure throws after the local parts are gone, and a retry finishes the job.
 */
export function eraseDeviceData(d: EraseDeps, q: DeleteRange): Promise<EraseResult> {
  return d.forwarder.exclusive(async () => {
    d.ingestor.forget(q.deviceId, q.fromMs, q.toMs);
    const outboxDropped = d.outbox.dropRange(q.deviceId, q.fromMs, q.toMs, WINDOW_MS);
    const forgotten = d.latest.forget(q.deviceId, q.fromMs, q.toMs);
    await d.store.deleteRange(q);
    if (forgotten) {
      // The newest reading left, as a restart would seed it; without one, nothing.
      const left = await d.store.latest().catch((err: unknown) => {
        d.logger.warn({ err, deviceId: q.deviceId }, 'could not re-read the latest reading after an erasure');
        return [];
      });
      d.latest.seed(left.filter((p) => p.deviceId === q.deviceId));
    }
    d.logger.info({ deviceId: q.deviceId, fromMs: q.fromMs, toMs: q.toMs, outboxDropped }, 'device data erased');
    return { deviceId: q.deviceId, fromMs: q.fromMs, toMs: q.toMs, outboxDropped };
  });
}
