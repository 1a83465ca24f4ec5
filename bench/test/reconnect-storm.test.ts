import { describe, expect, it } from 'vitest';
import { measureStorm, parseStormArgs } from '../src/reconnect-storm.js';
import { ReconnectPolicy, parsePolicy, reconnectDelay } from '../src/reconnect-policy.js';

describe('reconnect policies', () => {
  it('fixed waits the same every time; back-off draws below a doubling ceiling, capped', () => {
    const fixed = { policy: ReconnectPolicy.Fixed, baseMs: 1000, capMs: 8000 };
    expect([0, 1, 5].map((n) => reconnectDelay(fixed, n, () => 0.5))).toEqual([1000, 1000, 1000]);
    const backoff = { policy: ReconnectPolicy.Backoff, baseMs: 1000, capMs: 8000 };
    // random() → 1 gives the ceiling itself: 1, 2, 4, 8, then the cap.
    expect([0, 1, 2, 3, 4, 40].map((n) => reconnectDelay(backoff, n, () => 1))).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    expect(reconnectDelay(backoff, 2, () => 0.25)).toBe(1000);
    expect(reconnectDelay(backoff, 0, () => 0)).toBe(0);
    expect(() => parsePolicy('linear')).toThrow(/unknown reconnect policy "linear"/);
  });

  it('refuses a fault outside the load and a cap below the base', () => {
    expect(() => parseStormArgs(['--duration', '20', '--at', '20'])).toThrow(/inside the load/);
    expect(() => parseStormArgs(['--base-ms', '2000', '--cap-ms', '1000'])).toThrow(/cap-ms/);
    expect(parseStormArgs([]).policies).toEqual(['fixed', 'backoff']);
  });
});

// Real processes: broker, cloud and edge; a few dozen devices dropped by a broker SIGKILL
// come back per their policy, and nothing they had acknowledged after it is lost.
describe('reconnect storm (small)', () => {
  it('brings every device back under both policies and loses nothing acknowledged after the drop', async () => {
    const results = await measureStorm({ devices: 40, everyS: 0.5, durationS: 14, atS: 4, policies: ['fixed', 'backoff'], baseMs: 500, capMs: 4000, workers: 1 });
    for (const r of results) {
      expect(r.connected).toBe(40);
      expect(r.storm.drops).toBe(40);
      expect(r.storm.reconnected).toBe(40);
      expect(r.storm.attempts).toBeGreaterThanOrEqual(40);
      expect(r.backS.max).toBeGreaterThan(0);
      expect(r.lostAfterDrop).toBe(0);
      expect(r.duplicates).toBe(0);
      // Nobody's retry overtook its own attempt at this size: one drop per device.
      expect(r.sessionsReplaced).toBe(0);
      // Devices kept reporting across the drop: more was acknowledged than before it.
      expect(r.acked).toBeGreaterThan(40 * 8);
      expect(r.stored).toBeGreaterThanOrEqual(r.acked - r.lostBeforeDrop);
    }
  }, 180_000);
});
