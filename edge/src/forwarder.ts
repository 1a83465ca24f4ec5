import type { Logger } from 'pino';
import type { StoreRecord } from './domain/records.js';
import { StoreError } from './errors.js';
import { LagHistogram } from './lag-histogram.js';
import type { EdgeMetrics } from './metrics.js';
import type { Outbox } from './outbox.js';
import type { TelemetryStore } from './store/store.js';

export interface ForwarderOptions {
  batchSize: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** After an ingest commit, wait until ingest has been quiet this long (ms) before writing
   * to the store, but at most `settleMaxMs` after the first commit. 0: forward at once. */
  settleMs?: number;
  settleMaxMs?: number;
  now?: () => number;
}

/**
 * Drains the outbox into the store, oldest first, one batch at a time. Entries are deleted
 * only after the store acknowledged the batch; on failure the same batch is retried with
 * exponential back-off (with jitter) so order is preserved and nothing is lost while the
 * store is down. A batch the store rejects as invalid (non-retryable) is discarded and
 * counted, or it would block the queue forever.
 */
export class Forwarder {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private backoff: number;
  private settleTimer: NodeJS.Timeout | undefined;
  private firstKickAt: number | undefined;
  private readonly now: () => number;
  private readonly lag = new LagHistogram();
  /** Serialises store writes with `exclusive` work (erasure). */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly outbox: Outbox,
    private readonly store: TelemetryStore,
    private readonly metrics: EdgeMetrics,
    private readonly logger: Logger,
    private readonly opts: ForwarderOptions,
  ) {
    this.backoff = opts.minBackoffMs ?? 100;
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** New data is in the outbox. With `settleMs`, a burst of messages is ingested first and
   * written to the store after it: store batches interleaved with the burst made every
   * message behind them — an urgent event too — wait longer (alert-latency profile). */
  kick(): void {
    const settle = this.opts.settleMs ?? 0;
    if (settle <= 0) {
      this.wake?.();
      return;
    }
    const now = this.now();
    this.firstKickAt ??= now;
    const at = Math.min(now + settle, this.firstKickAt + (this.opts.settleMaxMs ?? 10 * settle));
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      this.firstKickAt = undefined;
      this.wake?.();
    }, Math.max(0, at - now));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  /**
   * Runs `fn` while no batch is being written, and holds the next batch back until it is
   * done. An erasure needs this: a batch peeked before it deleted the outbox rows and
   * written after it deleted the store's would bring the erased data back.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Forwards one batch. Returns false when the outbox is empty or the store failed. */
  forwardOnce(): Promise<boolean> {
    return this.exclusive(() => this.forwardBatch());
  }

  private async forwardBatch(): Promise<boolean> {
    const batch = this.outbox.peek(this.opts.batchSize);
    if (!batch) return false;
    try {
      await this.store.write(batch.records);
    } catch (err) {
      this.metrics.storeErrors++;
      if (err instanceof StoreError && !err.retryable) {
        this.logger.error({ err, records: batch.records.length }, 'store rejected batch; discarding it');
        this.metrics.rejectedByStore += batch.records.length;
        this.outbox.release(batch.lastId);
        this.metrics.outboxDepth = this.outbox.depth;
        return true;
      }
      if (this.metrics.storeUp) this.logger.warn({ err }, 'store write failed; buffering in outbox');
      this.metrics.storeUp = false;
      return false;
    }
    this.outbox.release(batch.lastId);
    if (!this.metrics.storeUp) this.logger.info('store write succeeded');
    this.metrics.storeUp = true;
    this.metrics.written += batch.records.length;
    this.metrics.outboxDepth = this.outbox.depth;
    const now = this.now();
    this.metrics.lastWriteLagMs = Math.max(0, now - newestTs(batch.records));
    for (const r of batch.records) if (r.type === 'reading' || r.type === 'event') this.lag.record(now - r.tsMs);
    this.metrics.writeLag = this.lag.summary();
    return true;
  }

  private async run(): Promise<void> {
    const min = this.opts.minBackoffMs ?? 100;
    const max = this.opts.maxBackoffMs ?? 30_000;
    while (this.running) {
      let progressed: boolean;
      try {
        progressed = await this.forwardOnce();
      } catch (err) {
        // Outbox read failure (disk): log, back off, keep the service alive.
        this.logger.error({ err }, 'forwarder failed');
        progressed = false;
      }
      if (!this.running) break;
      if (progressed) {
        this.backoff = min;
        // Yield so ingest gets the event loop between batches.
        await new Promise<void>((r) => setImmediate(r));
      } else if (this.outbox.depth > 0 && !this.metrics.storeUp) {
        await this.sleep(this.backoff * (0.5 + Math.random() / 2));
        this.backoff = Math.min(max, this.backoff * 2);
      } else {
        await this.sleep(1000);
      }
    }
  }

  /** Stops the loop; then tries to drain what is left until `deadlineMs` passes. */
  async stop(drainForMs = 2000): Promise<void> {
    this.running = false;
    clearTimeout(this.settleTimer);
    this.wake?.();
    await this.loop;
    const until = this.now() + drainForMs;
    while (this.now() < until && this.outbox.depth > 0) {
      const ok = await this.forwardOnce().catch(() => false);
      if (!ok) break;
    }
  }
}

function newestTs(records: StoreRecord[]): number {
  let ts = 0;
  for (const r of records) {
    const t = r.type === 'aggregate' ? r.windowStartMs : r.type === 'air-index' ? r.endMs : r.tsMs;
    if (t > ts) ts = t;
  }
  return ts;
}
