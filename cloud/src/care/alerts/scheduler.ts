import type { Logger } from 'pino';
import type { AlertStore } from './store.js';

/** setTimeout's ceiling (~24.8 days); a later due time is re-armed when this fires. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * One timer for the earliest `next_due_at_ms` in the alert store. The due times live in
 * the database, so a restart loses nothing: `start()` arms for whatever is due (overdue
 * alerts run at once). `poke()` re-arms whenever an alert changed.
 *
 * Several clouds on one database (`pollMs` set): each cloud's timer is only a cache of the
 * database's due times — another cloud's intake or ladder step changes them without this
 * one hearing of it — so the timer is re-derived from the database every `pollMs`. Both
 * clouds' timers fire for a due alert; the store's row lock decides who advances it
 * (lifecycle.advance), and when one cloud dies mid-ladder the other's next poll finds its
 * alerts due and carries on.
 */
export class LadderScheduler {
  private timer: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;
  private armedFor: number | null = null;
  private running = false;
  private again = false;
  private stopped = true;
  /** the latest re-arm wins when several are in flight */
  private generation = 0;

  constructor(
    private readonly repo: AlertStore,
    private readonly advance: (alertId: string) => Promise<void>,
    private readonly now: () => number,
    private readonly log: Logger,
    private readonly pollMs: number | null = null,
  ) {}

  start(): void {
    this.stopped = false;
    this.poke();
    if (this.pollMs !== null) {
      this.poll = setInterval(() => this.poke(), this.pollMs);
      this.poll.unref();
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.poll) clearInterval(this.poll);
    this.timer = undefined;
    this.poll = undefined;
    this.armedFor = null;
  }

  /** Re-arms for the earliest due alert (cheap: one indexed MIN). */
  poke(): void {
    if (this.stopped) return;
    if (this.running) { this.again = true; return; }
    const gen = ++this.generation;
    void this.repo.earliestDue().then((due) => {
      if (this.stopped || gen !== this.generation || this.running) return;
      this.arm(due);
    }, (err: unknown) => {
      this.log.error({ err }, 'reading the next ladder due time failed; retrying shortly');
      if (gen === this.generation) this.retryIn(1000);
    });
  }

  private arm(due: number | null): void {
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
        const ids = await this.repo.dueAlertIds(this.now());
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
        const after = await Promise.all(ids.map((id) => this.repo.get(id)));
        if (after.every((a) => (a?.nextDueAtMs ?? Infinity) > this.now())) continue;
        break;
      }
    } catch (err) {
      this.log.error({ err }, 'ladder run failed; retrying shortly');
      this.running = false;
      this.retryIn(1000);
      return;
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
