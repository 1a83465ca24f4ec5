import { describe, expect, it } from 'vitest';
import { measureRetention } from '../src/retention.js';

// The retention benchmark, small: a real edge process started on a pre-filled store prunes
// the readings older than the 30-day default while live devices publish; none of theirs is lost.
describe('retention benchmark harness', () => {
  it('prunes the old half of a filled store during live ingest and loses nothing acknowledged', async () => {
    const rows = 100_000;
    const r = await measureRetention({ rows, devices: 4, rate: 10, durationS: 20 });
    expect(r.filled).toBe(rows);
    expect(r.passes).toBeGreaterThanOrEqual(1);
    // 200 devices × 500 readings over 60 days: 250 per device are older than 30 days, plus at
    // most the one each device has within the seconds between the fill and the pass.
    expect(r.pruned).toBeGreaterThanOrEqual(rows / 2);
    expect(r.pruned).toBeLessThanOrEqual(rows / 2 + 200);
    expect(r.acked).toBeGreaterThan(100);
    expect(r.lost).toBe(0);
    expect(r.duplicates).toBe(0);
    expect(r.stored).toBe(r.acked);
  }, 180_000);
});
