import type { Logger } from 'pino';
import type { AlertStore } from './alert-store.js';

const DAY_MS = 86_400_000;

/**
 * Prunes closed alerts from alerts.db by age (YULAN_RETENTION_ALERTS_DAYS, docs/deploy.md):
 * 10 s after start, then hourly, in transactions of `batch` rows with a pause between, so
 * the alert pipeline never waits long for the file.
 */
export class AlertRetention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private closed = false;

  constructor(
    private readonly store: AlertStore, private readonly days: number, private readonly log: Logger,
    private readonly t = { batch: 500, pauseMs: 20, firstAfterMs: 10_000, everyMs: 3_600_000 },
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    if (this.days === 0) return;
    const tick = (after: number): void => {
      this.timer = setTimeout(() => {
        this.running = this.runOnce().catch((err: unknown) => this.log.error({ err }, 'alert retention pass failed')).finally(() => {
          if (!this.closed) tick(this.t.everyMs);
        });
      }, after);
      this.timer.unref();
    };
    tick(this.t.firstAfterMs);
  }

  async runOnce(): Promise<number> {
    if (this.days === 0) return 0;
    const cutoff = this.now() - this.days * DAY_MS;
    let total = 0;
    while (!this.closed) {
      const n = this.store.pruneClosed(cutoff, this.t.batch);
      total += n;
      if (n === 0) break;
      await new Promise((r) => setTimeout(r, this.t.pauseMs));
    }
    if (total > 0) this.log.info({ pruned: total, days: this.days }, 'closed alerts pruned');
    return total;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
