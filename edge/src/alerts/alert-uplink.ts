import type { Logger } from 'pino';
import { RateLimitedLog, type EdgeMetrics } from '../metrics.js';
import type { AlertStore, PendingDelivery } from './alert-store.js';
import { HttpCallError, httpCall } from './http-client.js';

export interface AlertUplinkOptions {
  cloudUrl: string;
  token: string;
  minBackoffMs: number;
  maxBackoffMs: number;
  timeoutMs: number;
  now?: () => number;
  /** for an https:// cloud URL with a private CA */
  fetch?: typeof fetch;
}

const BATCH = 20;
/** Idle re-check period: a crash-free process needs none, but it bounds any missed kick. */
const IDLE_MS = 1000;

/** Status codes that mean "try again later"; any other 4xx is a permanent refusal. */
export function isRetryableStatus(status: number): boolean {
  return status === 0 || status === 408 || status === 429 || status >= 500 || status < 200;
}

export function backoffMs(attempts: number, minMs: number, maxMs: number, rand = Math.random): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(attempts, 30));
  return Math.round(base * (0.8 + 0.4 * rand()));
}

/**
 * Delivers alert revisions to `POST {cloud}/api/v1/internal/alerts` (docs/care.md §2):
 * the latest revision of each alert until the cloud answers 2xx, urgent first. The cloud
 * treats revisions idempotently, so re-sending after a lost answer is harmless ("exactly
 * once in effect"). Permanent refusals are dead-lettered, never retried in a loop.
 */
export class AlertUplink {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly now: () => number;
  private readonly errLog = new RateLimitedLog(30_000);
  private readonly abort = new AbortController();

  constructor(
    private readonly store: AlertStore, private readonly metrics: EdgeMetrics,
    private readonly logger: Logger, private readonly opts: AlertUplinkOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  kick(): void {
    this.metrics.alertsPending = this.store.pendingCount();
    this.wake?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, Math.max(0, ms));
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  private async run(): Promise<void> {
    while (this.running) {
      let due: PendingDelivery[] = [];
      try {
        due = this.store.duePending(this.now(), BATCH);
        for (const d of due) {
          if (!this.running) break;
          await this.deliver(d);
        }
        this.metrics.alertsPending = this.store.pendingCount();
      } catch (err) {
        this.logger.error({ err }, 'alert uplink iteration failed');
      }
      if (!this.running) break;
      if (due.length === BATCH) continue;
      const next = this.store.nextDueAt();
      await this.sleep(next === undefined ? IDLE_MS : Math.min(IDLE_MS, next - this.now()));
    }
  }

  private async deliver(d: PendingDelivery): Promise<void> {
    const { report } = d;
    let status: number;
    let detail = '';
    try {
      const res = await httpCall(`${this.opts.cloudUrl}/api/v1/internal/alerts`, {
        method: 'POST', headers: { authorization: `Bearer ${this.opts.token}` }, body: JSON.stringify(report),
        timeoutMs: this.opts.timeoutMs, maxBytes: 64 * 1024, signal: this.abort.signal, ...(this.opts.fetch ? { fetch: this.opts.fetch } : {}),
      });
      status = res.status;
      detail = res.text.slice(0, 200);
    } catch (err) {
      status = err instanceof HttpCallError ? err.status : 0;
      detail = (err as Error).message;
    }
    // Shutting down mid-call: the revision simply stays pending for the next start.
    if (!this.running) return;
    if (status >= 200 && status < 300) {
      this.store.markDelivered(d.alertId, d.revision, report.level === 'urgent');
      this.metrics.alertsDelivered++;
      return;
    }
    if (!isRetryableStatus(status)) {
      this.store.markRejected(d.alertId, d.revision);
      this.metrics.alertsRejected++;
      // Once per revision by construction: a rejected revision is never sent again.
      this.logger.error({ alertId: d.alertId, revision: d.revision, status, detail }, 'cloud rejected an alert report; dead-lettered');
      return;
    }
    this.metrics.alertUplinkErrors++;
    const wait = backoffMs(d.attempts, this.opts.minBackoffMs, this.opts.maxBackoffMs);
    this.store.markRetry(d.alertId, d.revision, this.now() + wait);
    const suppressed = this.errLog.allow('uplink', this.now());
    if (suppressed >= 0) this.logger.warn({ alertId: d.alertId, status, detail, retryInMs: wait, suppressed }, 'alert delivery failed; will retry');
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    this.wake?.();
    await this.loop;
  }
}
