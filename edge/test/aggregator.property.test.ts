import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AddResult, Aggregator, WINDOW_MS } from '../src/domain/aggregator.js';
import type { AggregateRecord } from '../src/domain/records.js';

/**
 * Whatever the arrival order, however often the edge collects in between, and even when
 * the aggregator is snapshotted and restored mid-stream, the last aggregate emitted for
 * each window equals the statistics computed directly from that window's readings.
 */
describe('Aggregator (properties)', () => {
  const ref = { deviceId: 'env-1', site: 's', kind: 'env-monitor' as const };
  const W0 = Date.UTC(2024, 5, 1, 10, 0, 0);
  const opts = { graceMs: 5000, lateRetentionMs: 3_600_000 };

  const readings = fc
    .uniqueArray(fc.integer({ min: 0, max: 3 * WINDOW_MS - 1 }), { minLength: 1, maxLength: 80 })
    .chain((offsets) =>
      fc.tuple(
        fc.constant(offsets),
        fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: offsets.length, maxLength: offsets.length }),
        fc.shuffledSubarray(offsets.map((_, i) => i), { minLength: offsets.length, maxLength: offsets.length }),
        fc.array(fc.boolean(), { minLength: offsets.length, maxLength: offsets.length }),
        fc.integer({ min: 0, max: offsets.length }),
      ),
    );

  it('emits exact window statistics for any arrival order, collect schedule and restore point', () => {
    fc.assert(
      fc.property(readings, ([offsets, values, order, collectAfter, restoreAt]) => {
        let agg = new Aggregator(opts);
        const emitted = new Map<number, AggregateRecord>();
        const take = (now: number): void => {
          for (const r of agg.collect(now).aggregates) emitted.set(r.windowStartMs, r);
        };
        order.forEach((i, step) => {
          if (step === restoreAt) {
            const snap = JSON.parse(JSON.stringify(agg.exportState(ref.deviceId) ?? null));
            agg = new Aggregator(opts);
            if (snap) agg.importState(snap);
          }
          expect(agg.add(ref, W0 + (offsets[i] as number), { v: values[i] as number }, W0)).toBe(AddResult.Added);
          if (collectAfter[step]) take(W0);
        });
        take(W0 + 4 * WINDOW_MS + opts.graceMs);

        const expected = new Map<number, { count: number; min: number; max: number; sum: number; lastTs: number; last: number }>();
        offsets.forEach((off, i) => {
          const v = values[i] as number;
          const start = W0 + off - ((W0 + off) % WINDOW_MS);
          const e = expected.get(start);
          if (!e) expected.set(start, { count: 1, min: v, max: v, sum: v, lastTs: off, last: v });
          else {
            e.count++; e.min = Math.min(e.min, v); e.max = Math.max(e.max, v); e.sum += v;
            if (off > e.lastTs) { e.lastTs = off; e.last = v; }
          }
        });
        expect([...emitted.keys()].sort()).toEqual([...expected.keys()].sort());
        for (const [start, e] of expected) {
          const f = emitted.get(start)?.fields.v;
          expect(f).toEqual({ count: e.count, min: e.min, max: e.max, mean: e.sum / e.count, last: e.last });
        }
      }),
      { numRuns: 300 },
    );
  });
});
