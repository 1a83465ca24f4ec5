import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LagHistogram } from '../src/lag-histogram.js';

describe('LagHistogram', () => {
  it('reports zeros when empty', () => {
    expect(new LagHistogram().summary()).toEqual({ count: 0, p50: 0, p90: 0, p99: 0, max: 0 });
  });

  it('estimates percentiles of 1..1000 ms within its 10 % bucket resolution', () => {
    const h = new LagHistogram();
    for (let v = 1; v <= 1000; v++) h.record(v);
    const s = h.summary();
    expect(s.count).toBe(1000);
    expect(s.max).toBe(1000);
    for (const [got, exact] of [[s.p50, 500], [s.p90, 900], [s.p99, 990]] as const) {
      expect(got).toBeGreaterThanOrEqual(exact);
      expect(got).toBeLessThanOrEqual(exact * 1.1);
    }
  });

  it('counts device clocks ahead of the edge as zero lag', () => {
    const h = new LagHistogram();
    h.record(-50);
    h.record(-1);
    expect(h.summary()).toMatchObject({ count: 2, p99: 0, max: 0 });
  });

  it('never reports a percentile above the maximum or below the exact value (property)', () => {
    fc.assert(fc.property(fc.array(fc.double({ min: 0, max: 1e7, noNaN: true }), { minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 100 }), (values, p) => {
      const h = new LagHistogram();
      for (const v of values) h.record(v);
      const sorted = [...values].sort((a, b) => a - b);
      const exact = sorted[Math.ceil((p / 100) * sorted.length) - 1]!;
      const got = h.percentile(p);
      expect(got).toBeLessThanOrEqual(Math.max(...values));
      expect(got).toBeGreaterThanOrEqual(Math.min(exact, 0.5));
      if (exact > 0.5) expect(got).toBeGreaterThanOrEqual(exact * 0.999);
    }));
  });
});
