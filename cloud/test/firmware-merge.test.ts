import { describe, expect, it } from 'vitest';
import { mergeRollouts, takeChanges } from '../src/firmware/merge.js';
import { newRollout, type DeviceRollout } from '../src/firmware/engine.js';

/** How a runner's memory meets an operator's action another cloud committed (merge.ts). */
const base = (id: string, over: Partial<DeviceRollout> = {}): DeviceRollout => ({ ...newRollout(id, 0, 5, '1.0.0', true), ...over });

describe('merging a live campaign\'s memory with the database', () => {
  it('takes the database for rows memory saved, keeps unsaved reports, and lists what must be written', () => {
    const stored = [
      base('saved', { status: 'cancelled', reason: 'campaign aborted' }),
      base('outcome', { status: 'cancelled' }),
      base('progress', { status: 'cancelled' }),
      base('shifted', { status: 'scheduled', startAt: 9_000 }),
      base('telemetry', { status: 'soaking', lastTelemetryAt: 10 }),
    ];
    const memory = new Map([
      ['saved', base('saved', { status: 'sent' })],
      ['outcome', base('outcome', { status: 'failed', reason: 'rolled back' })],
      ['progress', base('progress', { status: 'installing' })],
      ['shifted', base('shifted', { status: 'scheduled', startAt: 1_000, lastTelemetryAt: 50 })],
      ['telemetry', base('telemetry', { status: 'soaking', lastTelemetryAt: 60 })],
    ]);
    const m = mergeRollouts(stored, memory, new Set(['outcome', 'progress', 'shifted', 'telemetry']));
    const st = (id: string) => m.devices.get(id);
    expect(st('saved')).toBe(stored[0]);
    // a failure the device reported stays a failure, though the abort cancelled it there
    expect(st('outcome')).toMatchObject({ status: 'failed', reason: 'rolled back' });
    // progress of a device the abort ended does not bring it back
    expect(st('progress')).toBe(stored[2]);
    // a resume shifted the start; the report memory folded in stays
    expect(st('shifted')).toMatchObject({ status: 'scheduled', startAt: 9_000, lastTelemetryAt: 50 });
    expect(st('telemetry')).toMatchObject({ lastTelemetryAt: 60 });
    expect(m.keep.map((d) => d.deviceId)).toEqual(['outcome', 'shifted', 'telemetry']);
  });

  it('a decision that was not saved is taken back; unsaved reports stay unsaved, one folded in meanwhile stays', () => {
    const a = base('a');
    const b = base('b', { lastTelemetryAt: 5 });
    const c = base('c');
    const l = { devices: new Map([['a', a], ['b', b], ['c', c]]), dirty: new Set(['b']) };
    const planned = [{ ...a, status: 'sent' as const }, { ...c, status: 'sent' as const }];
    const t = takeChanges(l, planned);
    expect(t.rows.map((d) => d.deviceId)).toEqual(['a', 'c', 'b']);
    expect(l.dirty.size).toBe(0);
    // a report for c arrives while the save is out
    const report = { ...planned[1]!, lastTelemetryAt: 9 };
    l.devices.set('c', report);
    l.dirty.add('c');
    t.revert();
    expect(l.devices.get('a')).toBe(a);
    expect(l.devices.get('c')).toBe(report);
    expect([...l.dirty].sort()).toEqual(['b', 'c']);
  });
});
