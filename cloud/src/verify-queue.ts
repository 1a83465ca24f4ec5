/**
 * Admission for the broker's device-auth checks. Each check is a production scrypt (~32 ms
 * of a core here, 16 MiB); Node hands every scrypt call straight to libuv's thread pool,
 * where a queued one can no longer be withdrawn. When connects arrive faster than the cloud
 * can hash (a fleet coming back after a broker restart, a busy host) the queue grows past
 * the broker's request timeout (5 s), the broker gives up and the device retries — yet the
 * cloud still computed every abandoned check, so its useful rate fell as the load rose and
 * the fleet never settled. Checks now wait here instead, at most `limit` hashing at once,
 * in arrival order; one whose caller has gone away by its turn is dropped unhashed.
 */
export const ABANDONED = Symbol('abandoned');

export interface VerifyQueueStats {
  running: number;
  waiting: number;
  /** checks dropped unhashed because their caller had gone */
  abandoned: number;
}

export class VerifyQueue {
  private running = 0;
  private abandonedCount = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`verify queue limit must be a positive integer, got ${limit}`);
  }

  /** Runs `work` when a slot is free, unless `gone()` says the caller left while it waited. */
  async run<T>(work: () => Promise<T>, gone: () => boolean): Promise<T | typeof ABANDONED> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running += 1;
    // The slot is ours here (handed over by release() or taken above).
    try {
      if (gone()) {
        this.abandonedCount += 1;
        return ABANDONED;
      }
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running -= 1;
    }
  }

  stats(): VerifyQueueStats {
    return { running: this.running, waiting: this.waiting.length, abandoned: this.abandonedCount };
  }
}
