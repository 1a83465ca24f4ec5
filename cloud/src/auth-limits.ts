/**
 * Failure budgets for authentication (docs/care.md §5, cloud/README.md "Rate limits").
 * In memory: one cloud process, and a restart forgetting the counters is acceptable.
 *
 * Both limiters only ever slow down *wrong* attempts: callers check a presented service
 * token first and skip the limiter when it is right, so nobody's failures can refuse a
 * correct credential. Both are bounded: under a spray from many addresses the least
 * recently failed entries are forgotten first (Map insertion order, refreshed on every
 * failure), which can only make the limiter more lenient, never lock anyone out.
 */

export const DEFAULT_MAX_ENTRIES = 20_000;

/** Failures per key in fixed windows; `max` failures refuse the key until the window ends. */
export class FailureLimiter {
  private readonly hits = new Map<string, { count: number; until: number }>();
  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly maxEntries = DEFAULT_MAX_ENTRIES,
  ) {}

  /** Milliseconds until `key` may try again; 0 when it may now. */
  retryAfterMs(key: string, now = Date.now()): number {
    const h = this.hits.get(key);
    return h !== undefined && h.until > now && h.count >= this.max ? h.until - now : 0;
  }

  blocked(key: string, now = Date.now()): boolean {
    return this.retryAfterMs(key, now) > 0;
  }

  fail(key: string, now = Date.now()): void {
    const h = this.hits.get(key);
    this.hits.delete(key);
    const next = h === undefined || h.until <= now ? { count: 1, until: now + this.windowMs } : { count: h.count + 1, until: h.until };
    evictOldest(this.hits, this.maxEntries);
    this.hits.set(key, next);
  }

  /** Takes back one failure counted ahead of a check that then succeeded. */
  refund(key: string): void {
    const h = this.hits.get(key);
    if (h === undefined) return;
    if (h.count <= 1) this.hits.delete(key);
    else h.count--;
  }

  get size(): number {
    return this.hits.size;
  }
}

export interface BackoffPolicy {
  /** failures allowed before the first delay */
  freeAttempts: number;
  /** the first delay; each further failure doubles it */
  baseDelayMs: number;
  maxDelayMs: number;
  /** a key with no failure for this long (and no delay pending) starts afresh */
  forgetAfterMs: number;
}

/**
 * Exponential back-off per key (OWASP: slow down, don't lock out): after `freeAttempts`
 * failures the key must wait 1 s, then 2 s, 4 s … up to `maxDelayMs` between attempts.
 * A success clears the key.
 */
export class BackoffLimiter {
  private readonly entries = new Map<string, { failures: number; nextAt: number; lastAt: number }>();
  constructor(
    private readonly policy: BackoffPolicy,
    private readonly maxEntries = DEFAULT_MAX_ENTRIES,
  ) {}

  /** Milliseconds until `key` may try again; 0 when it may now. */
  retryAfterMs(key: string, now = Date.now()): number {
    const e = this.live(key, now);
    return e !== undefined && e.nextAt > now ? e.nextAt - now : 0;
  }

  /** Records a failure; answers the delay now imposed on the key (0 while attempts are free). */
  fail(key: string, now = Date.now()): number {
    const e = this.live(key, now);
    const failures = (e?.failures ?? 0) + 1;
    const over = failures - this.policy.freeAttempts;
    // 2 ** 30 already exceeds any sane cap; clamping the exponent keeps the number finite.
    const delay = over <= 0 ? 0 : Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** Math.min(over - 1, 30));
    this.entries.delete(key);
    evictOldest(this.entries, this.maxEntries);
    this.entries.set(key, { failures, nextAt: now + delay, lastAt: now });
    return delay;
  }

  succeed(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }

  private live(key: string, now: number) {
    const e = this.entries.get(key);
    if (e !== undefined && e.nextAt <= now && now - e.lastAt >= this.policy.forgetAfterMs) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }
}

function evictOldest(map: Map<string, unknown>, maxEntries: number): void {
  while (map.size >= maxEntries) {
    const oldest = map.keys().next();
    if (oldest.done === true) return;
    map.delete(oldest.value);
  }
}

/** `Retry-After` is whole seconds; never 0 for a refusal. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
