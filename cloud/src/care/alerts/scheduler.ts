import type { Logger } from 'pino';
import type { AlertRepository } from './repository.js';

/** setTimeout's ceiling (~24.8 days); a later due time is re-armed when this fires. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * One timer for the earliest `next_due_at_ms` in alerts.sqlite. The due times live in the
 * database, so a restart loses nothing: `start()` arms for whatever is due (overdue
 * alerts run at once). `poke()` re-arms whenever an alert changed.
 */
export class LadderScheduler {
  private timer: NodeJS.Timeout | undefined;
  private armedFor: number | null = null;
  private running = false;
  private again = false;
  private stopped = true;

  constructor(
    private readonly repo: AlertRepository,
    private readonly advance: (alertId: string) => Promise<void>,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.stopped = false;
    this.poke();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = null;
  }

  /** Re-arms for the earliest due alert (cheap: one indexed MIN). */
  poke(): void {
    if (this.stopped) return;
    if (this.running) { this.again = true; return; }
    const due = this.repo.earliestDue();
    if (due === null) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.armedFor = null;
      return;
    }
    if (this.timer && this.armedFor === due) return;
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = due;
    this.timer = setTimeout(() => void this.run(), Math.min(MAX_DELAY_MS, Math.max(0, due - this.now())));
  }

  /** Runs whatever is due now (tests and tools that move a fake clock). */
  async runNow(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = null;
    await this.run();
  }

  private async run(): Promise<void> {
    this.timer = undefined;
    this.armedFor = null;
    if (this.stopped) return;
    this.running = true;
    try {
      for (;;) {
        const ids = this.repo.dueAlertIds(this.now());
        if (ids.length === 0 || this.stopped) break;
        for (const id of ids) {
          if (this.stopped) break;
          try {
            await this.advance(id);
          } catch (err) {
            // Leave next_due_at_ms as it is: the alert is retried on the next run rather
            // than dropped; back off briefly so a persistent failure cannot spin.
            this.log.error({ err, alertId: id }, 'ladder step failed; retrying shortly');
            this.running = false;
            this.retryIn(1000);
            return;
          }
        }
        // A tick that could not move an alert's due time would loop forever; advance()
        // always moves it forward or clears it, so looping re-checks newly due ones only.
        if (ids.every((id) => (this.repo.get(id)?.nextDueAtMs ?? Infinity) > this.now())) continue;
        break;
      }
    } finally {
      this.running = false;
    }
    this.again = false;
    this.poke();
  }

  private retryIn(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = null;
    this.timer = setTimeout(() => void this.run(), ms);
  }
}
