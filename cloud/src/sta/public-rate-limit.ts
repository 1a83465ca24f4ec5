/**
 * The open-data API's own budget per client address: a fixed window counter, apart from
 * the global API limiter (plugins/rate-limit.ts). Public routes opt out of that limiter,
 * so no volume of anonymous open-data reads can spend the budget that people and services
 * at the same address (everyone, behind a proxy) need for the authenticated API. Memory is
 * bounded: at most `maxAddresses` windows are tracked; past that the oldest is forgotten.
 */
export class PublicRateLimit {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxAddresses = 100_000,
  ) {}

  /** Counts one request; returns 0 when allowed, else the seconds until the window ends. */
  take(address: string): number {
    const t = this.now();
    let w = this.windows.get(address);
    if (!w || t - w.start >= this.windowMs) {
      this.windows.delete(address);
      if (this.windows.size >= this.maxAddresses) {
        const oldest = this.windows.keys().next().value;
        if (oldest !== undefined) this.windows.delete(oldest);
      }
      w = { start: t, count: 0 };
      this.windows.set(address, w);
    }
    w.count++;
    return w.count <= this.max ? 0 : Math.max(1, Math.ceil((w.start + this.windowMs - t) / 1000));
  }
}
