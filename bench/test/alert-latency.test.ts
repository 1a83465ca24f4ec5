import { describe, expect, it } from 'vitest';
import { measureAlertLatency, parseAlertLatencyArgs } from '../src/alert-latency.js';

describe('alert-latency benchmark harness', () => {
  it('parses its options and refuses more falls than devices', () => {
    expect(parseAlertLatencyArgs(['--devices', '50', '--falls', '40', '--rate', '0.5'])).toMatchObject({ devices: 50, falls: 40, rate: 0.5, injectRate: 10 });
    expect(() => parseAlertLatencyArgs(['--devices', '10', '--falls', '20'])).toThrow(/one alert per device/);
    expect(() => parseAlertLatencyArgs(['--rate', '-1'])).toThrow(/--rate/);
  });

  // The harness itself, small: real processes, every injected alert accounted for.
  it('pages a family member once per injected fall or SOS, with valid signatures', async () => {
    const r = await measureAlertLatency({ devices: 12, falls: 12, rate: 2, injectRate: 6, workers: 1 });
    expect(r.injected).toBe(12);
    expect(r.paged).toBe(12);
    expect(r.lost).toBe(0);
    expect(r.duplicates).toBe(0);
    expect(r.badSignatures).toBe(0);
    expect(r.cloudAlerts).toBe(12);
    expect(r.latencyMs.max).toBeGreaterThanOrEqual(r.latencyMs.p50);
  }, 180_000);
});
