/** Summary of how long records took from the device clock to the store's acknowledgement. */
export interface LagSummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

const FACTOR = 1.1;
const MIN_MS = 0.5;
const BUCKETS = 180; // 0.5 ms · 1.1^180 ≈ 14 h: anything later lands in the last bucket

/**
 * A fixed-size log-bucket histogram (±5 % resolution): constant memory however many
 * records pass, cheap enough to record every reading on the hot path. Device clocks may
 * run ahead of the edge's; negative lags count as 0.
 */
export class LagHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  private n = 0;
  private maxMs = 0;

  record(lagMs: number): void {
    const v = lagMs > 0 ? lagMs : 0;
    const i = v <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(v / MIN_MS) / Math.log(FACTOR)));
    this.counts[i]! += 1;
    this.n += 1;
    if (v > this.maxMs) this.maxMs = v;
  }

  /** Upper bound of the bucket holding the p-th percentile (p in 0..100). */
  percentile(p: number): number {
    if (this.n === 0) return 0;
    const rank = Math.ceil((p / 100) * this.n);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.maxMs, MIN_MS * FACTOR ** i);
    }
    return this.maxMs;
  }

  summary(): LagSummary {
    return { count: this.n, p50: this.percentile(50), p90: this.percentile(90), p99: this.percentile(99), max: this.maxMs };
  }
}
