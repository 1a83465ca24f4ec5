import { DeviceKind } from '@yulan/protos';
import { shouldSkipRedis } from '@yulan/testkit';
import { describe, expect, it } from 'vitest';
import { cityDevices, measureCity, parseCityArgs } from '../src/city.js';

describe('city benchmark harness', () => {
  it('scales the programme fleet by kind, with per-kind rates', () => {
    const d = cityDevices(0.001, 1);
    const count = (k: number) => d.filter((x) => x.kind === k).length;
    expect([count(DeviceKind.EV_CHARGER), count(DeviceKind.PARCEL_LOCKER), count(DeviceKind.FALL_SENSOR), count(DeviceKind.ENV_MONITOR)]).toEqual([50, 12, 100, 5]);
    expect(d.find((x) => x.kind === DeviceKind.EV_CHARGER)!.rate).toBeCloseTo(1 / 30);
    expect(new Set(d.map((x) => x.id)).size).toBe(d.length);
    expect(() => parseCityArgs(['--factors', '0,1'])).toThrow(/factors/);
  });

  // Real processes, a few dozen devices at ×10 rates: telemetry and door events share each
  // device's seqs, and every acknowledged one must be read back once.
  it('carries a mixed fleet with door events and accounts for every message', async () => {
    const [r] = await measureCity({ factors: [0.0005], durationS: 6, store: 'sqlite', doorEveryS: 10, speedup: 10, workers: 1, brokerWorkers: 0 });
    expect(r!.connected).toBe(r!.devices);
    expect(r!.connectFailed).toBe(0);
    expect(r!.events).toBeGreaterThan(0);
    expect(r!.acked).toBe(r!.published);
    expect(r!.stored).toBe(r!.acked);
    expect(r!.lost).toBe(0);
    expect(r!.duplicates).toBe(0);
  }, 120_000);

  // The clustered broker (2 worker processes + a real redis-server) with the real edge: its
  // persistent session subscribes to four filters in one SUBSCRIBE, which once went
  // unacknowledged in Redis mode and the edge stored nothing.
  it.skipIf(shouldSkipRedis())('carries the fleet through the clustered broker to the real edge', async () => {
    const [r] = await measureCity({ factors: [0.0005], durationS: 6, store: 'sqlite', doorEveryS: 10, speedup: 10, workers: 1, brokerWorkers: 2 });
    expect(r!.connected).toBe(r!.devices);
    expect(r!.acked).toBe(r!.published);
    expect(r!.acked).toBeGreaterThan(0);
    expect(r!.stored).toBe(r!.acked);
    expect(r!.lost).toBe(0);
    expect(r!.duplicates).toBe(0);
  }, 120_000);
});
