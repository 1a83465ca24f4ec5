import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { EdgeMetrics } from './metrics.js';
import type { PruneTable, SqliteStore } from './store/sqlite-store.js';

const DAY_MS = 86_400_000;

/** Days each kind of data is kept (0 = forever). Defaults in README, "Retention". */
export interface RetentionConfig {
  rawDays: number;
  aggregatesDays: number;
  eventsDays: number;
}

export interface RetentionTunables {
  /** Rows per DELETE: small, so the event loop (and ingest) is never held for long. */
  batchRows: number;
  /** Pause between batches: ingest and the forwarder run in between. */
  pauseMs: number;
  /** Time between passes. */
  intervalMs: number;
}

export const RETENTION_TUNABLES: RetentionTunables = { batchRows: 2000, pauseMs: 20, intervalMs: 3_600_000 };

type Exclusive = <T>(fn: () => Promise<T>) => Promise<T>;

/**
 * Prunes the embedded SQLite store by age, per kind of data: raw readings, 1-minute
 * aggregates, events (presence changes go with events). Incremental: batches of a few
 * thousand rows, each through the forwarder's `exclusive` (no batch write or erasure
 * interleaves), with a pause between them so ingest — which only needs outbox.db — and the
 * forwarder keep running during a prune of any size. InfluxDB stores prune themselves
 * through retention policies.
 */
export class Retention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly store: SqliteStore,
    private readonly cfg: RetentionConfig,
    private readonly exclusive: Exclusive,
    private readonly metrics: EdgeMetrics,
    private readonly logger: Logger,
    private readonly tunables: RetentionTunables = RETENTION_TUNABLES,
    private readonly now: () => number = Date.now,
  ) {}

  private ages(): [PruneTable, number][] {
    const c = this.cfg;
    return ([['readings', c.rawDays], ['aggregates', c.aggregatesDays], ['events', c.eventsDays], ['presence', c.eventsDays]] as [PruneTable, number][])
      .filter(([, days]) => days > 0);
  }

  start(firstAfterMs = 10_000): void {
    const schedule = (ms: number): void => {
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        void this.runOnce().catch((err: unknown) => this.logger.error({ err }, 'retention pass failed; retrying at the next interval'))
          .finally(() => schedule(this.tunables.intervalMs));
      }, ms);
      this.timer.unref();
    };
    schedule(firstAfterMs);
  }

  /** One pass over every table; resolves with the rows deleted per table. */
  runOnce(): Promise<Record<string, number>> {
    const pass = (async () => {
      const deleted: Record<string, number> = {};
      for (const [table, days] of this.ages()) {
        const before = this.now() - days * DAY_MS;
        let cursor: string | undefined;
        let first = true;
        deleted[table] = 0;
        while (!this.stopped && (first || cursor !== undefined)) {
          first = false;
          const r = await this.exclusive(async () => this.store.pruneBatch(table, before, this.tunables.batchRows, cursor));
          cursor = r.cursor;
          deleted[table] += r.deleted;
          this.metrics.retentionPruned += r.deleted;
          if (r.deleted > 0) await sleep(this.tunables.pauseMs);
          else await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }
      this.metrics.retentionPasses++;
      const total = Object.values(deleted).reduce((a, b) => a + b, 0);
      if (total > 0) this.logger.info({ deleted }, 'retention pass done');
      return deleted;
    })();
    this.running = pass.then(() => undefined, () => undefined);
    return pass;
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
