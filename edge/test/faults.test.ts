import { describe, expect, it } from 'vitest';
import { faultOf } from '../src/domain/faults.js';
import { LatestCache } from '../src/latest-cache.js';

const entry = (ts: number, kind: string, fields: Record<string, number>) => ({ ts, seq: ts, site: 's1', kind, fields, text: {} });

describe('faulted devices (console fleet counts)', () => {
  it('follows each kind\'s own fault fields', () => {
    expect(faultOf('ev-charger', { faulted: 1, status: 3 })).toBe('fault_code');
    expect(faultOf('ev-charger', { faulted: 0, status: 9 })).toBe('status_faulted');
    expect(faultOf('ev-charger', { faulted: 0, status: 3 })).toBeNull();
    expect(faultOf('parcel-locker', { tamper: 1, mains_power: 1 })).toBe('tamper');
    expect(faultOf('parcel-locker', { tamper: 0, mains_power: 0 })).toBe('mains_power_lost');
    expect(faultOf('parcel-locker', { tamper: 0, mains_power: 1 })).toBeNull();
    // No fault state in their telemetry; a fall is an alert, not a device fault.
    expect(faultOf('fall-sensor', { fall: 1, battery_pct: 1 })).toBeNull();
    expect(faultOf('env-monitor', { pm25_ugm3: 999 })).toBeNull();
  });

  it('keeps the set as readings arrive: a newer healthy reading clears, an older faulty one does not return, erasure forgets', () => {
    const c = new LatestCache();
    c.offer('ch-1', entry(10, 'ev-charger', { faulted: 1 }));
    c.offer('lk-1', entry(10, 'parcel-locker', { tamper: 0, mains_power: 1 }));
    expect(c.faulted()).toEqual([{ deviceId: 'ch-1', site: 's1', kind: 'ev-charger', ts: 10, reason: 'fault_code' }]);
    c.offer('ch-1', entry(20, 'ev-charger', { faulted: 0, status: 1 }));
    expect(c.faulted()).toEqual([]);
    c.offer('ch-1', entry(15, 'ev-charger', { faulted: 1 })); // late, older than the newest
    expect(c.faulted()).toEqual([]);
    c.offer('lk-1', entry(30, 'parcel-locker', { tamper: 0, mains_power: 0 }));
    expect(c.faulted().map((f) => f.reason)).toEqual(['mains_power_lost']);
    expect(c.forget('lk-1', 0, 100)).toBe(true);
    expect(c.faulted()).toEqual([]);
  });
});
